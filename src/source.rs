//! Source files as read from disk: decoded text and a line index for spans.

use std::path::PathBuf;
use std::sync::Arc;

use crate::diagnostic::Span;

/// A file's text as migverify sees it. Invalid UTF-8 bytes are replaced, one for
/// one, by `?` so that byte offsets stay those of the file on disk; their offsets
/// are kept in `invalid_utf8` so the parser can tell where they were. A carriage
/// return not followed by a line feed (old Mac line endings) is read as a line feed,
/// one byte for one, as Python reads source files (universal newlines).
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// Byte offsets (into `text`) of bytes that were not valid UTF-8.
    pub invalid_utf8: Vec<usize>,
    /// The file started with a UTF-8 byte order mark (stripped from `text`).
    pub had_bom: bool,
    line_starts: Vec<usize>,
    /// The text is ASCII: a column is a byte count.
    ascii: bool,
}

impl SourceFile {
    pub fn from_bytes(path: PathBuf, bytes: Vec<u8>) -> SourceFile {
        let (mut bytes, had_bom) = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
            Some(rest) => (rest.to_vec(), true),
            None => (bytes, false),
        };
        if bytes.contains(&b'\r') {
            for i in 0..bytes.len() {
                if bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
                    bytes[i] = b'\n';
                }
            }
        }
        let mut invalid_utf8 = Vec::new();
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                let mut bytes = err.into_bytes();
                let mut pos = 0;
                while pos < bytes.len() {
                    match std::str::from_utf8(&bytes[pos..]) {
                        Ok(_) => break,
                        Err(e) => {
                            let bad = pos + e.valid_up_to();
                            let len = e.error_len().unwrap_or(bytes.len() - bad);
                            for b in &mut bytes[bad..bad + len] {
                                *b = b'?';
                            }
                            invalid_utf8.extend(bad..bad + len);
                            pos = bad + len;
                        }
                    }
                }
                String::from_utf8(bytes).unwrap_or_default()
            }
        };
        SourceFile::with_text(path, text, invalid_utf8, had_bom)
    }

    /// An empty file with no path (a placeholder until the real one is set, or
    /// for a source not kept in memory). Shared: no allocation per call.
    pub fn empty() -> Arc<SourceFile> {
        static EMPTY: std::sync::OnceLock<Arc<SourceFile>> = std::sync::OnceLock::new();
        Arc::clone(
            EMPTY.get_or_init(|| Arc::new(SourceFile::from_text(PathBuf::new(), String::new()))),
        )
    }

    pub fn from_text(path: PathBuf, text: String) -> SourceFile {
        SourceFile::with_text(path, text, Vec::new(), false)
    }

    fn with_text(
        path: PathBuf,
        text: String,
        invalid_utf8: Vec<usize>,
        had_bom: bool,
    ) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let ascii = text.is_ascii();
        SourceFile {
            path,
            text,
            invalid_utf8,
            had_bom,
            line_starts,
            ascii,
        }
    }

    /// 1-based line and character column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        if self.ascii {
            return (line + 1, offset - start + 1);
        }
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    pub fn span(&self, start: usize, end: usize) -> Span {
        let (start_line, start_column) = self.line_col(start);
        let (end_line, end_column) = self.line_col(end.max(start));
        Span {
            start,
            end: end.max(start),
            start_line,
            start_column,
            end_line,
            end_column,
        }
    }

    /// The span of a whole 1-based line, without its line ending.
    pub fn line_span(&self, line: usize) -> Option<Span> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        let end = if self.text[..end].ends_with('\r') {
            end - 1
        } else {
            end
        };
        Some(self.span(start, end))
    }

    /// The 0-based line of a byte offset.
    pub fn line_index(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset) - 1
    }

    /// The byte offset where a 0-based line starts (the end of the text past the
    /// last line).
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len())
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_bytes_keep_offsets() {
        let src = SourceFile::from_bytes("x.py".into(), b"a = 1\n# \xff\xfe\nb".to_vec());
        assert_eq!(src.text, "a = 1\n# ??\nb");
        assert_eq!(src.invalid_utf8, vec![8, 9]);
        assert_eq!(src.line_col(8), (2, 3));
    }

    #[test]
    fn a_lone_carriage_return_is_a_line_break() {
        let src = SourceFile::from_bytes("x.py".into(), b"a = 1\rb = 2\r\nc\r".to_vec());
        assert_eq!(src.text, "a = 1\nb = 2\r\nc\n");
        assert_eq!(src.line_col(src.text.find('c').unwrap()), (3, 1));
        assert_eq!(src.line_span(2).unwrap().end_column, 6);
    }

    #[test]
    fn bom_is_stripped_and_columns_count_chars() {
        let src = SourceFile::from_bytes("x.py".into(), "\u{feff}é = 'x'\n".as_bytes().to_vec());
        assert!(src.had_bom);
        assert_eq!(src.line_col(src.text.find('=').unwrap()), (1, 3));
        assert_eq!(src.line_span(1).unwrap().end_column, 8);
    }
}
