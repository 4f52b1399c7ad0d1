//! Small text helpers shared by the emitters and the error messages.

/// `s` cut to at most `max` characters (`max` ≥ 1), ending in `…` when cut: user
/// input echoed in a message stays readable however long it is.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}

/// `s` with every control character (C0, DEL, C1) written as an escape (`\n`,
/// `\r`, `\t`, `\u{1b}`): text from files, names or a database server cannot
/// start a line of its own (a GitHub workflow command `::error ...`, a fake
/// diagnostic) or drive the terminal (ESC sequences). For the text formats; JSON
/// and SARIF escape them by their own syntax.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `text` with the control characters a terminal acts on replaced by `?`, byte
/// for byte (a C1 character's two bytes by `??`), so spans into it stay valid:
/// for source snippets. Tabs, line feeds and the `\r` of a `\r\n` stay.
pub fn neutralize_controls(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let bad = |i: usize| match bytes[i] {
        b'\t' | b'\n' => false,
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        b if b < 0x20 || b == 0x7f => true,
        0xc2 => bytes.get(i + 1).is_some_and(|b| (0x80..0xa0).contains(b)),
        _ => false,
    };
    if !(0..bytes.len()).any(bad) {
        return None;
    }
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i < out.len() {
        if bad(i) {
            let n = if bytes[i] == 0xc2 { 2 } else { 1 };
            out[i..i + n].fill(b'?');
            i += n;
        } else {
            i += 1;
        }
    }
    // Whole characters were replaced by ASCII: still UTF-8.
    String::from_utf8(out).ok()
}

/// Serialized JSON with DEL and the C1 controls (U+0080–U+009F), which JSON
/// allows raw in strings, written as `\u00XX` escapes too (serde_json escapes the
/// C0 ones): a report printed on a terminal cannot drive it. Outside strings JSON
/// holds only ASCII, so this changes no value.
pub fn escape_json_controls(json: Vec<u8>) -> Vec<u8> {
    let c1 = |w: &[u8]| w[0] == 0xc2 && (0x80..0xa0).contains(&w[1]);
    if !json.contains(&0x7f) && !json.windows(2).any(c1) {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut i = 0;
    while i < json.len() {
        if json[i] == 0x7f {
            out.extend_from_slice(b"\\u007f");
            i += 1;
        } else if i + 1 < json.len() && c1(&json[i..i + 2]) {
            out.extend_from_slice(format!("\\u{:04x}", json[i + 1]).as_bytes());
            i += 2;
        } else {
            out.push(json[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{escape_controls, escape_json_controls, neutralize_controls, truncate};

    #[test]
    fn json_c1_controls_are_escaped() {
        let json = serde_json::to_vec(&"a\u{9b}b\u{7f}é\u{1b}").unwrap();
        let escaped = escape_json_controls(json);
        assert_eq!(
            String::from_utf8(escaped.clone()).unwrap(),
            "\"a\\u009bb\\u007fé\\u001b\""
        );
        let back: String = serde_json::from_slice(&escaped).unwrap();
        assert_eq!(back, "a\u{9b}b\u{7f}é\u{1b}");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain ü"), "plain ü");
        assert_eq!(
            escape_controls("a\n::error::x\u{1b}[2J\r\t\u{9b}\u{7f}"),
            "a\\n::error::x\\u{1b}[2J\\r\\t\\u{9b}\\u{7f}"
        );
        assert_eq!(neutralize_controls("a\tb\r\nc\n"), None);
        let n = neutralize_controls("x\u{1b}[2J\ry\u{9b}é\n").unwrap();
        assert_eq!(n, "x?[2J?y??é\n");
        assert_eq!(n.len(), "x\u{1b}[2J\ry\u{9b}é\n".len());
    }

    #[test]
    fn cuts_long_text_only() {
        assert_eq!(truncate("MV003", 60), "MV003");
        assert_eq!(truncate(&"A".repeat(1 << 20), 5), "AAAA…");
        assert_eq!(truncate("ééééé", 4), "ééé…");
    }
}
