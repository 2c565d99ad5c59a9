//! The small glob language of `${v#pat}`, `${v%pat}` and `${v/pat/rep}`:
//! `*` is any run of characters, `?` any one character, `\*`, `\?` and
//! `\\` are literal. Bracket expressions are not supported (as in Docker).
//!
//! Matching simulates the pattern as a set of positions (no backtracking),
//! and every step is charged to a [`Budget`] so a hostile pattern cannot
//! spin for long.

use super::{ExpandError, MAX_PATTERN_STEPS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Token {
    Literal(char),
    AnyOne,
    AnyRun,
}

/// Work allowance shared by all pattern operations of one expansion.
#[derive(Debug, Default)]
pub(super) struct Budget {
    spent: u64,
}

impl Budget {
    fn charge(&mut self, steps: usize) -> Result<(), ExpandError> {
        self.spent = self.spent.saturating_add(steps as u64);
        if self.spent > MAX_PATTERN_STEPS {
            return Err(ExpandError::TooExpensive);
        }
        Ok(())
    }
}

pub(super) fn compile(pattern: &str) -> Result<Vec<Token>, ExpandError> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(ch) = chars.next() {
        let token = match ch {
            '*' => Token::AnyRun,
            '?' => Token::AnyOne,
            '\\' => match chars.peek().copied() {
                // `\}` and `\/` only protect the delimiter; the character
                // itself is then an ordinary literal.
                Some('}' | '/') => continue,
                Some(next @ ('*' | '?' | '\\')) => {
                    chars.next();
                    Token::Literal(next)
                }
                _ => return Err(ExpandError::InvalidPattern { pattern: pattern.to_string() }),
            },
            other => Token::Literal(other),
        };
        tokens.push(token);
    }
    Ok(tokens)
}

fn token_matches(token: Token, ch: char) -> bool {
    match token {
        Token::Literal(l) => l == ch,
        // Docker's patterns become regular expressions whose `.` does not
        // match a newline.
        Token::AnyOne | Token::AnyRun => ch != '\n',
    }
}

/// Adds the states reachable without consuming input (skipping `*`).
fn close(tokens: &[Token], states: &mut [bool]) {
    for i in 0..tokens.len() {
        if states.get(i).copied().unwrap_or(false) && tokens.get(i) == Some(&Token::AnyRun) {
            if let Some(next) = states.get_mut(i + 1) {
                *next = true;
            }
        }
    }
}

/// For every `k`, whether `tokens` matches exactly `text[..k]`.
fn prefix_ends(tokens: &[Token], text: &[char], budget: &mut Budget) -> Result<Vec<bool>, ExpandError> {
    let width = tokens.len() + 1;
    let mut ends = vec![false; text.len() + 1];
    let mut states = vec![false; width];
    if let Some(first) = states.first_mut() {
        *first = true;
    }
    close(tokens, &mut states);
    for (k, &ch) in text.iter().enumerate() {
        budget.charge(width)?;
        if let Some(end) = ends.get_mut(k) {
            *end = states.last().copied().unwrap_or(false);
        }
        let mut next = vec![false; width];
        let mut alive = false;
        for (i, token) in tokens.iter().enumerate() {
            if !states.get(i).copied().unwrap_or(false) || !token_matches(*token, ch) {
                continue;
            }
            let target = if *token == Token::AnyRun { i } else { i + 1 };
            if let Some(slot) = next.get_mut(target) {
                *slot = true;
                alive = true;
            }
        }
        close(tokens, &mut next);
        states = next;
        if !alive {
            return Ok(ends);
        }
    }
    if let Some(end) = ends.last_mut() {
        *end = states.last().copied().unwrap_or(false);
    }
    Ok(ends)
}

fn pick(ends: &[bool], longest: bool) -> Option<usize> {
    if longest {
        ends.iter().rposition(|hit| *hit)
    } else {
        ends.iter().position(|hit| *hit)
    }
}

/// `${v#pat}` / `${v##pat}`: drop the shortest (longest) matching prefix.
pub(super) fn trim_prefix(tokens: &[Token], value: &str, longest: bool, budget: &mut Budget) -> Result<String, ExpandError> {
    let text: Vec<char> = value.chars().collect();
    let ends = prefix_ends(tokens, &text, budget)?;
    Ok(match pick(&ends, longest) {
        Some(k) => text.get(k..).unwrap_or_default().iter().collect(),
        None => value.to_string(),
    })
}

/// `${v%pat}` / `${v%%pat}`: drop the shortest (longest) matching suffix.
pub(super) fn trim_suffix(tokens: &[Token], value: &str, longest: bool, budget: &mut Budget) -> Result<String, ExpandError> {
    let reversed_tokens: Vec<Token> = tokens.iter().rev().copied().collect();
    let reversed: Vec<char> = value.chars().rev().collect();
    let ends = prefix_ends(&reversed_tokens, &reversed, budget)?;
    Ok(match pick(&ends, longest) {
        Some(k) => reversed.get(k..).unwrap_or_default().iter().rev().collect(),
        None => value.to_string(),
    })
}

/// `${v/pat/rep}` / `${v//pat/rep}`: replace the leftmost-longest match
/// (every non-overlapping match when `all`).
pub(super) fn replace(tokens: &[Token], value: &str, replacement: &str, all: bool, budget: &mut Budget) -> Result<String, ExpandError> {
    let text: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut pos = 0;
    let mut replaced = false;
    let mut last_end = None;
    while pos <= text.len() {
        let rest = text.get(pos..).unwrap_or_default();
        let found = if replaced && !all { None } else { pick(&prefix_ends(tokens, rest, budget)?, true) };
        // Like Go's regexp, an empty match right after a match is skipped.
        let found = found.filter(|len| *len > 0 || last_end != Some(pos));
        match found {
            Some(len) => {
                out.push_str(replacement);
                replaced = true;
                last_end = Some(pos + len);
                if len == 0 {
                    // An empty match: keep the next character and move on.
                    out.extend(rest.first());
                    pos += 1;
                } else {
                    pos += len;
                }
            }
            None if replaced && !all => {
                out.extend(rest.iter());
                break;
            }
            None => {
                out.extend(rest.first());
                pos += 1;
            }
        }
        if out.len() > super::MAX_EXPANDED_LEN {
            return Err(ExpandError::TooLong);
        }
    }
    Ok(out)
}
