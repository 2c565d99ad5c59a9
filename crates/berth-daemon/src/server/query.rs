//! Query-string helpers: Docker's boolean spellings, integers, repeated keys.

use crate::error::EngineError;

/// Parsed query parameters (a key may repeat).
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> = raw.map(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default()).unwrap_or_default();
        Self(pairs)
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The first value of `key`, or "".
    pub fn str(&self, key: &str) -> String {
        self.get(key).unwrap_or_default().to_string()
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    /// Docker's boolean: absent, "", "0", "false", "no" are false.
    pub fn bool(&self, key: &str) -> bool {
        matches!(self.get(key), Some(v) if !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no" | "off"))
    }

    /// An integer parameter.
    pub fn int(&self, key: &str) -> Result<Option<i64>, EngineError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| EngineError::Invalid(format!("invalid value for {key}: {v:?}"))),
        }
    }
}
