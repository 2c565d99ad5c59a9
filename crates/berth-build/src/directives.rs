//! Parser directives: the `# syntax=`, `# escape=` and `# check=` comments
//! that may open a Dockerfile.
//!
//! Directives are only recognised in the leading run of comment lines that
//! look like `# key=value` with a known key. The first line that is not such
//! a comment (an instruction, an empty line, an ordinary comment, an unknown
//! key) ends the run for good. Keys are case-insensitive; each may appear
//! once.

use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;

/// The directives found at the top of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directives {
    /// `# syntax=` frontend reference. Recorded only: berth always uses its
    /// own parser.
    pub syntax: Option<String>,
    /// Escape character for line continuations and word escapes: `\` by
    /// default, `` ` `` with `# escape=``.
    pub escape: char,
    /// `# check=` lint configuration. Recorded only; it has no effect.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Self { syntax: None, escape: '\\', check: None }
    }
}

/// Scans lines one at a time and records directives until the run ends.
#[derive(Debug, Default)]
pub(crate) struct DirectiveScanner {
    done: bool,
    found: Directives,
    seen: Vec<String>,
}

impl DirectiveScanner {
    /// The directives collected so far.
    pub(crate) fn directives(&self) -> &Directives {
        &self.found
    }

    /// Looks at one physical line (newline already stripped, leading
    /// whitespace removed). Returns `Ok(true)` when it was a directive.
    pub(crate) fn observe(&mut self, line: &str) -> Result<bool, ErrorKind> {
        if self.done {
            return Ok(false);
        }
        let Some((key, value)) = line.strip_prefix('#').and_then(split_directive) else {
            self.done = true;
            return Ok(false);
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.contains(&key) {
            return Err(ErrorKind::DuplicateDirective { name: key });
        }
        match key.as_str() {
            "escape" => {
                self.found.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    other => return Err(ErrorKind::InvalidEscapeToken { value: other.to_string() }),
                };
            }
            "syntax" => self.found.syntax = Some(value.to_string()),
            _ => self.found.check = Some(value.to_string()),
        }
        self.seen.push(key);
        Ok(true)
    }
}

/// Whitespace as Go's regexp `\s` understands it.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Splits `  key = value  ` into its parts; the key is `[A-Za-z][A-Za-z0-9]*`
/// and the value must not be empty.
fn split_directive(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    let key_len = text.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(text.len());
    let key = text.get(..key_len)?;
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let rest = text.get(key_len..)?.trim_start_matches(is_re_space);
    let value = rest.strip_prefix('=')?.trim_start_matches(is_re_space).trim_end_matches(is_re_space);
    if value.is_empty() {
        return None;
    }
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(lines: &[&str]) -> Result<Directives, ErrorKind> {
        let mut scanner = DirectiveScanner::default();
        for line in lines {
            scanner.observe(line)?;
        }
        Ok(scanner.directives().clone())
    }

    #[test]
    fn recognises_known_keys_case_insensitively() {
        let d = scan(&["# SYNTAX = docker/dockerfile:1", "#Escape=`", "# check=skip=all"]);
        assert_eq!(d, Ok(Directives { syntax: Some("docker/dockerfile:1".into()), escape: '`', check: Some("skip=all".into()) }));
    }

    #[test]
    fn ordinary_comment_ends_the_run() {
        let d = scan(&["# hello", "# escape=`"]);
        assert_eq!(d.map(|d| d.escape), Ok('\\'));
        let d = scan(&["# unknown=1", "# escape=`"]);
        assert_eq!(d.map(|d| d.escape), Ok('\\'));
        let d = scan(&["", "# escape=`"]);
        assert_eq!(d.map(|d| d.escape), Ok('\\'));
    }

    #[test]
    fn duplicates_and_bad_escapes_fail() {
        assert_eq!(scan(&["# escape=`", "# ESCAPE=\\"]), Err(ErrorKind::DuplicateDirective { name: "escape".into() }));
        assert_eq!(scan(&["# escape=x"]), Err(ErrorKind::InvalidEscapeToken { value: "x".into() }));
    }

    #[test]
    fn empty_value_is_not_a_directive() {
        let d = scan(&["# syntax=", "# escape=`"]);
        assert_eq!(d, Ok(Directives::default()));
    }
}
