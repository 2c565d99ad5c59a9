//! The character-level scanner behind [`super::ShellWords`].
//!
//! It walks the word once, producing both the joined result and the
//! whitespace-split fields, so `word` and `words` share one grammar.

use super::pattern::Budget;
use super::{ExpandError, Options, ShellWords, Vars, MAX_EXPANDED_LEN};

/// Fields being accumulated while scanning (for [`ShellWords::words`]).
#[derive(Default)]
struct Fields {
    done: Vec<String>,
    current: String,
    in_word: bool,
}

impl Fields {
    /// Adds one character that came from unquoted text or a variable value:
    /// whitespace ends the current field.
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.current.is_empty() {
                self.done.push(std::mem::take(&mut self.current));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.current.push(ch);
        self.in_word = true;
    }

    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_str(&mut self, s: &str) {
        self.current.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}

pub(super) struct Scanner<'a> {
    pub(super) chars: Vec<char>,
    pub(super) pos: usize,
    pub(super) escape: char,
    pub(super) options: Options,
    pub(super) vars: &'a dyn Vars,
    pub(super) depth: usize,
    pub(super) budget: Budget,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(lexer: &ShellWords, word: &str, vars: &'a dyn Vars) -> Self {
        Self { chars: word.chars().collect(), pos: 0, escape: lexer.escape, options: lexer.options, vars, depth: 0, budget: Budget::default() }
    }

    pub(super) fn process(mut self) -> Result<(String, Vec<String>), ExpandError> {
        let raw_escapes = self.options.raw_escapes;
        self.until(None, raw_escapes)
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    pub(super) fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// Scans until `stop` (consumed) or the end of input; `stop = None` means
    /// the whole word. Returns the joined text and the fields.
    pub(super) fn until(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut fields = Fields::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, fields.finish()));
            }
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    fields.add_str(&value);
                    result.push_str(&value);
                }
                '<' => {
                    let marker = self.heredoc_marker();
                    fields.add_raw_str(&marker);
                    result.push_str(&marker);
                }
                '\'' if !self.options.skip_quotes => {
                    let text = self.single_quoted()?;
                    fields.add_raw_str(&text);
                    result.push_str(&text);
                }
                '"' if !self.options.skip_quotes => {
                    let text = self.double_quoted(raw_escapes)?;
                    fields.add_raw_str(&text);
                    result.push_str(&text);
                }
                _ => {
                    self.next();
                    if ch == self.escape {
                        if raw_escapes {
                            fields.add_raw_char(ch);
                            result.push(ch);
                        }
                        // An escape at the very end is dropped.
                        let Some(escaped) = self.next() else { break };
                        fields.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        fields.add_char(ch);
                        result.push(ch);
                    }
                }
            }
            if result.len() > MAX_EXPANDED_LEN {
                return Err(ExpandError::TooLong);
            }
        }
        if stop.is_some() {
            return Err(ExpandError::MissingBrace);
        }
        Ok((result, fields.finish()))
    }

    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        self.next();
        if self.options.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => return Err(ExpandError::UnterminatedQuote { quote: "single-quote" }),
                Some('\'') => {
                    if self.options.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(ch) => out.push(ch),
            }
        }
    }

    fn double_quoted(&mut self, raw_escapes: bool) -> Result<String, ExpandError> {
        let mut out = String::new();
        self.next();
        if self.options.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => return Err(ExpandError::UnterminatedQuote { quote: "double-quote" }),
                Some('"') => {
                    self.next();
                    if self.options.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    out.push_str(&value);
                }
                Some(ch) => {
                    self.next();
                    let mut ch = ch;
                    if ch == self.escape {
                        if raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            // An escape right before the end is dropped.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                self.next();
                                ch = next;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
            if out.len() > MAX_EXPANDED_LEN {
                return Err(ExpandError::TooLong);
            }
        }
    }

    /// `<<` plus any blanks after it is kept together so `<< EOF` stays one
    /// field (heredoc detection relies on this); a lone `<` is ordinary.
    fn heredoc_marker(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.next();
        let mut marker = "<<".to_string();
        while let Some(ch @ ('\t' | '\r' | ' ')) = self.peek() {
            marker.push(ch);
            self.next();
        }
        marker
    }
}
