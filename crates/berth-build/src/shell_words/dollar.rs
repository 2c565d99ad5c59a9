//! `$name` and `${name...}` references: lookup, the `-`, `+`, `?` operators
//! and the pattern operators `#`, `%`, `/`.

use super::pattern;
use super::scan::Scanner;
use super::{ExpandError, MAX_NESTING};

impl Scanner<'_> {
    fn name(&mut self) -> String {
        let mut name = String::new();
        if let Some(first) = self.peek() {
            if first.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if matches!(first, '@' | '*' | '#' | '?' | '-' | '$' | '!') {
                self.next();
                name.push(first);
                return name;
            }
        }
        while let Some(ch) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            name.push(ch);
            self.next();
        }
        name
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.vars.var(name).map(str::to_string)
    }

    pub(super) fn dollar(&mut self) -> Result<String, ExpandError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.options.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err(ExpandError::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution),
            Some(_) => {}
        }
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(ExpandError::TooDeep);
        }
        let result = self.braced();
        self.depth -= 1;
        result
    }

    /// Everything after `${`.
    fn braced(&mut self) -> Result<String, ExpandError> {
        let name = self.name();
        match self.next() {
            None => Err(ExpandError::MissingBrace),
            Some('}') => Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.options.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') => {
                let op = self.next();
                self.modifier(&name, true, op)
            }
            Some(op @ ('+' | '-' | '?' | '#' | '%')) => self.modifier(&name, false, Some(op)),
            Some('/') => self.replace(&name),
            Some(other) => Err(ExpandError::UnsupportedModifier { modifier: other.to_string() }),
        }
    }

    fn modifier(&mut self, name: &str, colon: bool, op: Option<char>) -> Result<String, ExpandError> {
        let mut written = if colon { ":".to_string() } else { String::new() };
        written.extend(op);
        let trims = matches!(op, Some('#' | '%'));
        if colon && trims {
            return Err(ExpandError::UnsupportedModifier { modifier: written });
        }
        let (word, _) = self.until(Some('}'), trims)?;
        let value = self.lookup(name);
        if self.options.skip_unset && value.is_none() {
            return Ok(format!("${{{name}{written}{word}}}"));
        }
        let empty = value.as_deref() == Some("");
        let missing = value.is_none() || (colon && empty);
        match op {
            Some('-') => Ok(if missing { word } else { value.unwrap_or_default() }),
            Some('+') => Ok(if missing { String::new() } else { word }),
            Some('?') => match value {
                Some(v) if !missing => Ok(v),
                _ => {
                    let default = if value.is_none() { "is not allowed to be unset" } else { "is not allowed to be empty" };
                    let message = if word.is_empty() { default.to_string() } else { word };
                    Err(ExpandError::Required { name: name.to_string(), message })
                }
            },
            Some(op @ ('#' | '%')) => {
                let (longest, pat) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                let value = value.unwrap_or_default();
                let tokens = pattern::compile(&pat)?;
                if op == '#' {
                    pattern::trim_prefix(&tokens, &value, longest, &mut self.budget)
                } else {
                    pattern::trim_suffix(&tokens, &value, longest, &mut self.budget)
                }
            }
            _ => Err(ExpandError::UnsupportedModifier { modifier: written }),
        }
    }

    fn replace(&mut self, name: &str) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let (pat, _) = self.until(Some('/'), true).map_err(|e| match e {
            ExpandError::MissingBrace => ExpandError::MissingSlash,
            other => other,
        })?;
        let (replacement, _) = self.until(Some('}'), true)?;
        let value = self.lookup(name);
        if self.options.skip_unset && value.is_none() {
            return Ok(format!("${{{name}/{pat}/{replacement}}}"));
        }
        let tokens = pattern::compile(&pat)?;
        let value = value.unwrap_or_default();
        pattern::replace(&tokens, &value, &replacement, all, &mut self.budget)
    }
}
