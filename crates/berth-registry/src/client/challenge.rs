//! `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"` or
//! `Basic realm="…"`, possibly several in one header.

use std::collections::BTreeMap;

/// One authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lowercased (`bearer`, `basic`).
    pub scheme: String,
    /// Parameters by lowercased name.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// A parameter (`realm`, `service`, `scope`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&b)
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_token_byte) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    fn quoted(&mut self) -> String {
        // The opening quote is the current byte.
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.pos += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn value(&mut self) -> String {
        if self.peek() == Some(b'"') {
            self.quoted()
        } else {
            let start = self.pos;
            while self.peek().is_some_and(|b| b != b',' && b != b' ' && b != b'\t') {
                self.pos += 1;
            }
            String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
        }
    }

    /// Reads `key=value` pairs until something that is not one (the next challenge).
    fn params(&mut self) -> BTreeMap<String, String> {
        let mut params = BTreeMap::new();
        loop {
            self.skip_separators();
            let save = self.pos;
            let key = self.token();
            self.skip_spaces();
            if key.is_empty() || self.peek() != Some(b'=') {
                self.pos = save;
                return params;
            }
            self.pos += 1;
            self.skip_spaces();
            let value = self.value();
            params.insert(key.to_ascii_lowercase(), value);
        }
    }
}

/// Parses every challenge of one header value; garbage yields what could be read.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut c = Cursor { s: header.as_bytes(), pos: 0 };
    let mut out = Vec::new();
    while c.pos < c.s.len() {
        c.skip_separators();
        let scheme = c.token();
        if scheme.is_empty() {
            // Not a token: skip the byte so the loop always advances.
            c.pos += 1;
            continue;
        }
        let params = c.params();
        out.push(Challenge { scheme: scheme.to_ascii_lowercase(), params });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_params() {
        let v = parse(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].scheme, "bearer");
        assert_eq!(v[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(v[0].param("service"), Some("registry.docker.io"));
        assert_eq!(v[0].param("scope"), Some("repository:library/alpine:pull"));
    }

    #[test]
    fn basic_and_several_challenges() {
        let v = parse(r#"Basic realm="berth-registry""#);
        assert_eq!(v[0].scheme, "basic");
        assert_eq!(v[0].param("realm"), Some("berth-registry"));
        let v = parse(r#"Basic realm="a b", Bearer realm="https://t/x", service=reg"#);
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].scheme, "bearer");
        assert_eq!(v[1].param("service"), Some("reg"));
    }

    #[test]
    fn escapes_case_and_garbage() {
        let v = parse(r#"BEARER Realm="a\"b",error="invalid_token""#);
        assert_eq!(v[0].scheme, "bearer");
        assert_eq!(v[0].param("realm"), Some("a\"b"));
        assert_eq!(v[0].param("error"), Some("invalid_token"));
        assert!(parse("").is_empty());
        for junk in ["\"\"\"", "=,=,=", "Bearer realm=\"unterminated", "Bearer ,,,", "\u{1F600} x=y"] {
            let _ = parse(junk);
        }
        assert_eq!(parse("Bearer realm=\"unterminated")[0].param("realm"), Some("unterminated"));
    }
}
