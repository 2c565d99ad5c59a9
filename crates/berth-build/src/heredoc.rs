//! Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) and their bodies.
//!
//! Only `RUN`, `COPY` and `ADD` in shell form (also behind `ONBUILD`) take
//! heredocs. Several may start on one line; their bodies follow the
//! instruction in order.

use serde::{Deserialize, Serialize};

use crate::shell_words::{NoVars, Options, ShellWords};

/// A here-document attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heredoc {
    /// Delimiter word with quotes removed (`EOF`).
    pub name: String,
    /// Body text, every line with its line ending. For `<<-` the leading
    /// tabs are already stripped from every line.
    pub content: String,
    /// Whether the body undergoes variable expansion: false when any part of
    /// the delimiter was quoted (`<<"EOF"`, `<<'EOF'`).
    pub expand: bool,
    /// Whether it was written `<<-` (leading tabs stripped).
    pub strip_tabs: bool,
    /// File descriptor prefix (`3<<EOF`), when given.
    pub fd: Option<u32>,
}

/// A heredoc marker found on an instruction line, before its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    pub name: String,
    pub expand: bool,
    pub strip_tabs: bool,
    pub fd: Option<u32>,
}

impl Marker {
    /// Attaches the body read from the file.
    pub(crate) fn with_body(self, body: &str) -> Heredoc {
        let content = if self.strip_tabs { strip_leading_tabs(body) } else { body.to_string() };
        Heredoc { name: self.name, content, expand: self.expand, strip_tabs: self.strip_tabs, fd: self.fd }
    }
}

/// Removes the tabs that start each line (for `<<-`).
pub(crate) fn strip_leading_tabs(text: &str) -> String {
    text.split_inclusive('\n').map(|line| line.trim_start_matches('\t')).collect()
}

fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Interprets one word as a heredoc marker: optional digits, `<<`, optional
/// `-`, optional blanks, then a delimiter that is a single word without `<`.
pub(crate) fn parse_marker(word: &str) -> Option<Marker> {
    let digits_end = word.find(|c: char| !c.is_ascii_digit()).unwrap_or(word.len());
    let (digits, rest) = word.split_at_checked(digits_end)?;
    let rest = rest.strip_prefix("<<")?;
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let delimiter = rest.trim_start_matches(is_re_space);
    if delimiter.is_empty() || delimiter.contains('<') {
        return None;
    }
    let plain = Options { skip_unset: true, ..Options::default() };
    let words = ShellWords::with_options('\\', plain).words(delimiter, &NoVars).ok()?;
    let [name] = words.as_slice() else {
        return None;
    };
    let raw = ShellWords::with_options('\\', Options { raw_quotes: true, ..plain }).words(delimiter, &NoVars).ok()?;
    let [raw_name] = raw.as_slice() else {
        return None;
    };
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Some(Marker { name: name.clone(), expand: quotes(name) == quotes(raw_name), strip_tabs, fd: digits.parse().ok() })
}

/// Every heredoc marker on an instruction line, in order.
pub(crate) fn markers_in_line(line: &str) -> Vec<Marker> {
    let options = Options { raw_quotes: true, raw_escapes: true, skip_unset: true, skip_quotes: false };
    match ShellWords::with_options('\\', options).words(line, &NoVars) {
        Ok(words) => words.iter().filter_map(|w| parse_marker(w)).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(word: &str) -> Option<(String, bool, bool, Option<u32>)> {
        parse_marker(word).map(|m| (m.name, m.expand, m.strip_tabs, m.fd))
    }

    #[test]
    fn marker_forms() {
        assert_eq!(marker("<<EOF"), Some(("EOF".into(), true, false, None)));
        assert_eq!(marker("<<-EOF"), Some(("EOF".into(), true, true, None)));
        assert_eq!(marker("<<\"EOF\""), Some(("EOF".into(), false, false, None)));
        assert_eq!(marker("<<'EOF'"), Some(("EOF".into(), false, false, None)));
        assert_eq!(marker("<<E\"O\"F"), Some(("EOF".into(), false, false, None)));
        assert_eq!(marker("3<<EOF"), Some(("EOF".into(), true, false, Some(3))));
        assert_eq!(marker("<< EOF"), Some(("EOF".into(), true, false, None)));
        assert_eq!(marker("<<"), None);
        assert_eq!(marker("a<<EOF"), None);
        assert_eq!(marker("<<EOF<<"), None);
    }

    #[test]
    fn markers_on_a_line() {
        let names: Vec<String> = markers_in_line("RUN cat <<A <<-\"B\" > out").into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["A", "B"]);
        assert!(markers_in_line("RUN echo '<<EOF'").is_empty());
        assert!(markers_in_line("RUN echo \"<<EOF").is_empty());
    }

    #[test]
    fn tab_stripping() {
        assert_eq!(strip_leading_tabs("\t\ta\n\tb\n  c\n"), "a\nb\n  c\n");
    }
}
