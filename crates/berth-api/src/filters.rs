//! The `filters` query parameter, in both shapes clients send: Go's
//! `{"label":{"a=b":true}}` and docker-py's `{"label":["a=b"]}`.

use std::collections::BTreeMap;

use serde_json::Value;

/// Parsed filters: each key with its accepted values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

/// A malformed filters parameter.
#[derive(Debug, thiserror::Error)]
#[error("invalid filter: {0}")]
pub struct FilterError(pub String);

impl Filters {
    /// Parses the JSON value of `filters` (empty means none).
    pub fn parse(raw: &str) -> Result<Self, FilterError> {
        if raw.trim().is_empty() {
            return Ok(Self::default());
        }
        let v: Value = serde_json::from_str(raw).map_err(|e| FilterError(e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| FilterError("filters must be a JSON object".into()))?;
        let mut out = BTreeMap::new();
        for (k, v) in obj {
            let values = match v {
                Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(String::from)).collect(),
                Value::Object(m) => m.iter().filter(|(_, on)| on.as_bool().unwrap_or(true)).map(|(s, _)| s.clone()).collect(),
                Value::String(s) => vec![s.clone()],
                _ => return Err(FilterError(format!("bad value for filter {k:?}"))),
            };
            out.insert(k.clone(), values);
        }
        Ok(Self(out))
    }

    /// Builds the Go-style JSON for a request.
    pub fn to_json(&self) -> String {
        let m: serde_json::Map<String, Value> =
            self.0.iter().map(|(k, vs)| (k.clone(), Value::Object(vs.iter().map(|v| (v.clone(), Value::Bool(true))).collect()))).collect();
        Value::Object(m).to_string()
    }

    /// Values for `key`.
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether `key` was given.
    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Rejects keys outside `allowed`, as Docker does.
    pub fn only(&self, allowed: &[&str]) -> Result<(), FilterError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(FilterError(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    /// Whether a label set passes every `label` filter (`key` or `key=value`).
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        self.get("label").iter().all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(f.as_str()),
        })
    }

    /// Adds a value (CLI side).
    pub fn add(&mut self, key: &str, value: &str) {
        self.0.entry(key.to_string()).or_default().push(value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes() {
        let go = Filters::parse(r#"{"label":{"a=b":true},"status":{"exited":true}}"#).unwrap();
        let py = Filters::parse(r#"{"label":["a=b"],"status":["exited"]}"#).unwrap();
        assert_eq!(go, py);
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "b".to_string());
        assert!(go.labels_match(&labels));
        labels.insert("a".to_string(), "c".to_string());
        assert!(!go.labels_match(&labels));
        assert!(Filters::parse("[1]").is_err());
        assert!(go.only(&["label"]).is_err());
    }
}
