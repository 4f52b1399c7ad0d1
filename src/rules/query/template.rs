//! Message templates: text with `{capture}` placeholders (`{{` and `}}` for
//! literal braces), checked against the query's captures when the rule loads.

/// A piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Capture(String),
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// What is wrong with a template, and where (byte range in the template text).
#[derive(Debug, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    pub label: String,
    pub range: std::ops::Range<usize>,
}

impl Template {
    /// Parses `text`; every placeholder must name one of `captures`.
    pub fn parse(text: &str, captures: &[&str]) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            match c {
                '{' if rest.peek().map(|&(_, c)| c) == Some('{') => {
                    rest.next();
                    lit.push('{');
                }
                '}' if rest.peek().map(|&(_, c)| c) == Some('}') => {
                    rest.next();
                    lit.push('}');
                }
                '{' => {
                    let Some(close) = text[i..].find('}').map(|j| i + j) else {
                        return Err(TemplateError {
                            message: "unclosed `{` in the template".into(),
                            label: "no closing `}`".into(),
                            range: i..i + 1,
                        });
                    };
                    let name = text[i + 1..close].trim();
                    let name = name.strip_prefix('@').unwrap_or(name);
                    if !captures.contains(&name) {
                        let known: Vec<String> = captures
                            .iter()
                            .filter(|c| !c.starts_with('_'))
                            .map(|c| format!("{{{c}}}"))
                            .collect();
                        return Err(TemplateError {
                            message: format!(
                                "the template names `{{{name}}}`, which the query does not capture"
                            ),
                            label: if known.is_empty() {
                                "the query has no captures".into()
                            } else {
                                format!("not a capture; the query captures {}", known.join(", "))
                            },
                            range: i..close + 1,
                        });
                    }
                    if !lit.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Capture(name.to_string()));
                    while rest.peek().is_some_and(|&(j, _)| j <= close) {
                        rest.next();
                    }
                }
                '}' => {
                    return Err(TemplateError {
                        message: "a lone `}` in the template (write `}}` for a brace)".into(),
                        label: "lone `}`".into(),
                        range: i..i + 1,
                    });
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        Ok(Template { pieces })
    }

    /// The captures it names, in order of first use.
    pub fn captures(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Capture(c) => Some(c.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// The text with each placeholder replaced by its capture's text (empty when
    /// the capture took no node in this match).
    pub fn render(&self, captures: &[(String, String)]) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Capture(c) => {
                    if let Some((_, text)) = captures.iter().find(|(n, _)| n == c) {
                        out.push_str(text);
                    }
                }
            }
        }
        out
    }

    /// The text with placeholders shown as `…` (a default summary).
    pub fn elided(&self) -> String {
        let all: Vec<(String, String)> = self
            .captures()
            .map(|c| (c.to_string(), "…".to_string()))
            .collect();
        self.render(&all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_captures_and_braces() {
        let t = Template::parse("drops `{table}` {{not a capture}}", &["table", "call"]).unwrap();
        assert_eq!(t.captures().collect::<Vec<_>>(), ["table"]);
        assert_eq!(
            t.render(&[("table".into(), "users".into())]),
            "drops `users` {not a capture}"
        );
        assert_eq!(t.elided(), "drops `…` {not a capture}");
    }

    #[test]
    fn unknown_captures_point_at_the_placeholder() {
        let e = Template::parse("drops {tabel} now", &["table", "_m"]).unwrap_err();
        assert_eq!(e.range, 6..13);
        assert!(e.message.contains("`{tabel}`"), "{}", e.message);
        assert!(e.label.contains("{table}"), "{}", e.label);
        assert!(!e.label.contains("_m"), "{}", e.label);
        assert_eq!(Template::parse("a {b", &["b"]).unwrap_err().range, 2..3);
        assert_eq!(Template::parse("a } b", &[]).unwrap_err().range, 2..3);
    }
}
