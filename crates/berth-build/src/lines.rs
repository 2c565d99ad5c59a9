//! Turns Dockerfile text into logical lines.
//!
//! A logical line is one instruction: physical lines joined where a line
//! ends with the escape character (trailing blanks allowed). Comment lines
//! and blank lines *inside* a continuation are skipped without ending it
//! (blank ones produce a warning, as in Docker). Directives are consumed
//! here because they change the escape character mid-scan. Heredoc bodies
//! are read on request by the caller, which alone knows whether the
//! instruction accepts heredocs.

use crate::directives::{DirectiveScanner, Directives};
use crate::error::ErrorKind;

/// One instruction's worth of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogicalLine {
    /// 1-based line where the instruction starts.
    pub start: usize,
    /// 1-based line where its text (not counting heredoc bodies) ends.
    pub end: usize,
    /// The joined text, comments and escapes-at-end-of-line removed.
    pub text: String,
    /// Whether a blank line was skipped inside the continuation.
    pub empty_continuation: bool,
}

/// Reads physical lines, keeping track of line numbers and directives.
pub(crate) struct LineReader<'a> {
    lines: std::iter::Peekable<std::str::SplitInclusive<'a, char>>,
    line_no: usize,
    directives: DirectiveScanner,
}

/// A failure with the line it happened on.
pub(crate) type LineError = (usize, ErrorKind);

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a trailing escape character (and blanks after it). Returns the
/// remaining text and whether the line continues. An escape preceded by
/// another escape does not continue the line.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    let Some(before) = trimmed.strip_suffix(escape) else {
        return (line, false);
    };
    if before.ends_with(escape) {
        return (line, false);
    }
    (before, true)
}

impl<'a> LineReader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Self { lines: text.split_inclusive('\n').peekable(), line_no: 0, directives: DirectiveScanner::default() }
    }

    /// Directives seen so far (complete once the first instruction is read).
    pub(crate) fn directives(&self) -> &Directives {
        self.directives.directives()
    }

    /// Number of the last physical line consumed.
    pub(crate) fn line_no(&self) -> usize {
        self.line_no
    }

    fn next_physical(&mut self) -> Option<&'a str> {
        let line = self.lines.next()?;
        self.line_no += 1;
        Some(line)
    }

    /// The next instruction's text, or `None` at the end of the file.
    pub(crate) fn next_logical(&mut self) -> Result<Option<LogicalLine>, LineError> {
        while let Some(raw) = self.next_physical() {
            let content = trim_newline(raw).trim_start();
            let directive = self.directives.observe(content).map_err(|kind| (self.line_no, kind))?;
            if directive || is_comment(content) {
                continue;
            }
            let escape = self.directives().escape;
            let start = self.line_no;
            let (first, continues) = trim_continuation(content, escape);
            if !continues && first.is_empty() {
                continue;
            }
            let mut text = first.to_string();
            let mut empty_continuation = false;
            let mut open = continues;
            while open {
                let Some(raw) = self.next_physical() else {
                    break;
                };
                let line = trim_newline(raw);
                if is_comment(line) {
                    continue;
                }
                if line.trim_start().is_empty() {
                    empty_continuation = true;
                    continue;
                }
                let (part, continues) = trim_continuation(line, escape);
                text.push_str(part);
                open = continues;
            }
            if open && text.trim().is_empty() {
                return Err((self.line_no, ErrorKind::ContinuationAtEof));
            }
            return Ok(Some(LogicalLine { start, end: self.line_no, text, empty_continuation }));
        }
        Ok(None)
    }

    /// Reads a heredoc body up to (not including) the line equal to
    /// `terminator` (after stripping leading tabs when `strip_tabs`). Lines
    /// keep their line endings. `None` when the file ends first.
    pub(crate) fn heredoc_body(&mut self, terminator: &str, strip_tabs: bool) -> Option<String> {
        let mut body = String::new();
        while let Some(raw) = self.next_physical() {
            let mut candidate = trim_newline(raw);
            if strip_tabs {
                candidate = candidate.trim_start_matches('\t');
            }
            if candidate == terminator {
                return Some(body);
            }
            body.push_str(raw);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logical(text: &str) -> Vec<(usize, usize, String)> {
        let mut reader = LineReader::new(text);
        let mut out = Vec::new();
        while let Ok(Some(line)) = reader.next_logical() {
            out.push((line.start, line.end, line.text));
        }
        out
    }

    #[test]
    fn joins_continuations_and_skips_comments_inside() {
        let text = "FROM a\nRUN echo a \\\n# note\n    b \\  \n\n  c\nUSER x\n";
        assert_eq!(logical(text), [(1, 1, "FROM a".into()), (2, 6, "RUN echo a     b   c".into()), (7, 7, "USER x".into())]);
    }

    #[test]
    fn double_escape_does_not_continue() {
        assert_eq!(logical("RUN a \\\\\nUSER b"), [(1, 1, "RUN a \\\\".into()), (2, 2, "USER b".into())]);
    }

    #[test]
    fn crlf_and_bom() {
        assert_eq!(logical("\u{feff}FROM a\r\nRUN x \\\r\n y\r\n"), [(1, 1, "FROM a".into()), (2, 3, "RUN x  y".into())]);
    }

    #[test]
    fn backtick_escape_directive() {
        assert_eq!(logical("# escape=`\nRUN dir c:\\ `\n  d:\\\n"), [(2, 3, "RUN dir c:\\   d:\\".into())]);
    }

    #[test]
    fn continuation_into_eof() {
        assert_eq!(logical("RUN a \\"), [(1, 1, "RUN a ".into())]);
        let mut reader = LineReader::new("FROM a\n\\\n");
        assert!(reader.next_logical().is_ok());
        assert_eq!(reader.next_logical(), Err((2, ErrorKind::ContinuationAtEof)));
    }

    #[test]
    fn heredoc_bodies() {
        let mut reader = LineReader::new("RUN <<EOF\n\techo hi\r\n\tEOF\nEOF\n");
        assert!(reader.next_logical().is_ok());
        assert_eq!(reader.heredoc_body("EOF", false), Some("\techo hi\r\n\tEOF\n".into()));
        let mut reader = LineReader::new("RUN <<-EOF\n\techo hi\n\tEOF\n");
        assert!(reader.next_logical().is_ok());
        assert_eq!(reader.heredoc_body("EOF", true), Some("\techo hi\n".into()));
        assert_eq!(reader.heredoc_body("EOF", true), None);
    }
}
