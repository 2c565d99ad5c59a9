//! One `.dockerignore` pattern: `*` and `?` within a path component,
//! `[...]` classes, `\` escapes, and `**` spanning any number of components.
//!
//! Like Docker, simple patterns are compared as strings (exact, `prefix**`,
//! `**suffix`); the rest are matched by simulating the pattern as a set of
//! positions, so matching is linear in the path length times pattern size.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character other than `/`.
    OneInComponent,
    /// `*`: any run without `/`.
    RunInComponent,
    /// `**` at the end: anything.
    RunAny,
    /// `**/` or `**` before more text: nothing, or anything ending in `/`.
    Dirs,
    /// `[...]`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix(String),
    Suffix(String),
    Tokens(Vec<Token>),
}

/// A compiled pattern (without its `!`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    text: String,
    kind: Kind,
}

/// Reads a `[...]` class after its `[`; `None` if malformed.
fn class(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<Token> {
    let negated = chars.next_if_eq(&'^').is_some();
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let lo = match chars.next()? {
            ']' if !first => return Some(Token::Class { negated, ranges }),
            ']' | '-' => return None,
            '\\' => chars.next()?,
            c => c,
        };
        first = false;
        let hi = if chars.next_if_eq(&'-').is_some() {
            match chars.next()? {
                '\\' => chars.next()?,
                ']' => return None,
                c => c,
            }
        } else {
            lo
        };
        if hi < lo {
            return None;
        }
        ranges.push((lo, hi));
    }
}

impl Pattern {
    /// Compiles a cleaned pattern; `None` when it is malformed (unclosed
    /// class, trailing backslash).
    pub(crate) fn compile(text: &str) -> Option<Pattern> {
        let mut tokens = Vec::new();
        let mut exact = true;
        let mut kind_hint: Option<Kind> = None;
        let mut chars = text.chars().peekable();
        let mut first = true;
        while let Some(ch) = chars.next() {
            match ch {
                '*' if chars.next_if_eq(&'*').is_some() => {
                    chars.next_if_eq(&'/');
                    kind_hint = None;
                    if chars.peek().is_none() {
                        if exact {
                            kind_hint = Some(Kind::Prefix(text.get(..text.len().saturating_sub(2))?.to_string()));
                        }
                        tokens.push(Token::RunAny);
                    } else {
                        tokens.push(Token::Dirs);
                    }
                    if first {
                        kind_hint = Some(Kind::Suffix(text.get(2..)?.to_string()));
                    }
                    exact = false;
                }
                '*' => {
                    tokens.push(Token::RunInComponent);
                    exact = false;
                    kind_hint = None;
                }
                '?' => {
                    tokens.push(Token::OneInComponent);
                    exact = false;
                    kind_hint = None;
                }
                '\\' => {
                    tokens.push(Token::Literal(chars.next()?));
                    exact = false;
                    kind_hint = None;
                }
                '[' => {
                    tokens.push(class(&mut chars)?);
                    exact = false;
                    kind_hint = None;
                }
                other => tokens.push(Token::Literal(other)),
            }
            first = false;
        }
        let kind = match (exact, kind_hint) {
            (true, _) => Kind::Exact,
            (false, Some(hint)) => hint,
            (false, None) => Kind::Tokens(tokens),
        };
        Some(Pattern { text: text.to_string(), kind })
    }

    /// The pattern text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Whether the pattern matches the whole of `path`.
    pub(crate) fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => path.ends_with(suffix.as_str()) || suffix.strip_prefix('/').is_some_and(|s| s == path),
            Kind::Tokens(tokens) => run(tokens, path),
        }
    }
}

fn step(token: &Token, ch: char) -> bool {
    match token {
        Token::Literal(l) => *l == ch,
        Token::OneInComponent | Token::RunInComponent => ch != '/' && ch != '\n',
        Token::RunAny | Token::Dirs => ch != '\n',
        Token::Class { negated, ranges } => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&ch)) != *negated,
    }
}

/// Follows transitions that consume nothing.
fn close(tokens: &[Token], states: &mut [bool]) {
    for (i, token) in tokens.iter().enumerate() {
        let skippable = matches!(token, Token::RunInComponent | Token::RunAny | Token::Dirs);
        if skippable && states.get(i).copied().unwrap_or(false) {
            if let Some(next) = states.get_mut(i + 1) {
                *next = true;
            }
        }
    }
}

/// Simulates the pattern over `path`. `at[i]` means "about to match token
/// i"; `inside[i]` means "part-way through the `**/` group at token i",
/// which may only be left through a `/`.
fn run(tokens: &[Token], path: &str) -> bool {
    let mut at = vec![false; tokens.len() + 1];
    let mut inside = vec![false; tokens.len()];
    if let Some(first) = at.first_mut() {
        *first = true;
    }
    close(tokens, &mut at);
    for ch in path.chars() {
        let mut next_at = vec![false; tokens.len() + 1];
        let mut next_inside = vec![false; tokens.len()];
        let mut alive = false;
        for (i, token) in tokens.iter().enumerate() {
            let here = at.get(i).copied().unwrap_or(false) || inside.get(i).copied().unwrap_or(false);
            if !here || !step(token, ch) {
                continue;
            }
            alive = true;
            let target = match token {
                Token::RunInComponent | Token::RunAny => Some(i),
                Token::Dirs => {
                    if let Some(slot) = next_inside.get_mut(i) {
                        *slot = true;
                    }
                    (ch == '/').then_some(i + 1)
                }
                _ => Some(i + 1),
            };
            if let Some(slot) = target.and_then(|t| next_at.get_mut(t)) {
                *slot = true;
            }
        }
        if !alive {
            return false;
        }
        close(tokens, &mut next_at);
        at = next_at;
        inside = next_inside;
    }
    at.last().copied().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Pattern::compile(pattern).is_some_and(|p| p.matches(path))
    }

    #[test]
    fn literal_and_single_component_globs() {
        assert!(m("foo", "foo"));
        assert!(!m("foo", "foo/bar"));
        assert!(m("*.md", "README.md"));
        assert!(!m("*.md", "docs/README.md"));
        assert!(m("docs/*.md", "docs/a.md"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "a/c"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axb"));
    }

    #[test]
    fn double_star() {
        assert!(m("**", "anything/at/all"));
        assert!(m("**/foo", "foo"));
        assert!(m("**/foo", "a/b/foo"));
        assert!(!m("**/foo", "a/bfoo"));
        assert!(m("foo/**", "foo/x/y"));
        assert!(!m("foo/**", "foo"));
        assert!(m("**/*.go", "main.go"));
        assert!(m("**/*.go", "cmd/x/main.go"));
        assert!(m("a/**/b", "a/b"));
        assert!(m("a/**/b", "a/x/y/b"));
        assert!(!m("a/**/b", "a/xb"));
        assert!(m("a/**", "a/b"));
    }

    #[test]
    fn malformed() {
        assert!(Pattern::compile("[abc").is_none());
        assert!(Pattern::compile("abc\\").is_none());
        assert!(Pattern::compile("[]").is_none());
    }
}
