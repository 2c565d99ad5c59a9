//! `GET /images/search`: Docker Hub's index, or a registry named in the term that implements
//! the `/v1/search` API (CNCF distribution and berth's own registry do not).

use berth_api::filters::Filters;
use berth_registry::client::{ClientError, Endpoint};
use serde_json::Value;

use super::credentials::AuthConfig;
use super::policy::HUB_INDEX;
use super::{client_error, Engine};
use crate::error::EngineError;

/// The registry host and query of a search term (`localhost:5000/app` → both parts).
pub fn split_term(term: &str) -> (Option<&str>, &str) {
    match term.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => (Some(first), rest),
        _ => (None, term),
    }
}

fn keep(v: &Value, filters: &Filters) -> Result<bool, EngineError> {
    let flag = |key: &str, field: &str| -> Result<bool, EngineError> {
        match filters.get(key).first().map(String::as_str) {
            None => Ok(true),
            Some("true" | "1") => Ok(v[field].as_bool() == Some(true)),
            Some("false" | "0") => Ok(v[field].as_bool() != Some(true)),
            Some(other) => Err(EngineError::Invalid(format!("invalid filter '{key}={other}'"))),
        }
    };
    let stars = match filters.get("stars").first() {
        None => 0,
        Some(s) => s.parse::<i64>().map_err(|_| EngineError::Invalid(format!("invalid filter 'stars={s}'")))?,
    };
    Ok(flag("is-official", "is_official")? && flag("is-automated", "is_automated")? && v["star_count"].as_i64().unwrap_or(0) >= stars)
}

impl Engine {
    /// Searches for `term`, at most `limit` results (1..=100, default 25).
    pub async fn search_images(&self, term: &str, limit: Option<i64>, filters: &Filters, auth: AuthConfig) -> Result<Vec<Value>, EngineError> {
        filters.only(&["is-official", "is-automated", "stars"]).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let limit = limit.unwrap_or(25);
        if !(1..=100).contains(&limit) {
            return Err(EngineError::Invalid(format!("limit {limit} is outside the range of [1, 100]")));
        }
        let (host, query) = split_term(term);
        let host = host.unwrap_or(HUB_INDEX).to_string();
        let insecure = self.registry_policy()?.is_insecure(&host).await;
        let endpoint = Endpoint { host: host.clone(), insecure };
        let results = match self.registry_client().search(&endpoint, query, limit as u32, &auth.credentials).await {
            Ok(v) => v,
            Err(e @ ClientError::Registry { status: 404 | 405, .. }) => {
                return Err(EngineError::NotImplemented(format!("registry {host} does not support search ({e})")));
            }
            Err(e) => return Err(client_error(e)),
        };
        let mut out = Vec::new();
        for v in results.as_array().into_iter().flatten() {
            if keep(v, filters)? {
                out.push(v.clone());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_and_filters() {
        assert_eq!(split_term("busybox"), (None, "busybox"));
        assert_eq!(split_term("user/app"), (None, "user/app"));
        assert_eq!(split_term("127.0.0.1:5000/app"), (Some("127.0.0.1:5000"), "app"));
        let v = serde_json::json!({"name": "a", "is_official": true, "star_count": 5});
        let f = |s: &str| Filters::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(keep(&v, &f(r#"{"is-official":["true"]}"#)).unwrap_or(false));
        assert!(!keep(&v, &f(r#"{"stars":["6"]}"#)).unwrap_or(true));
        assert!(keep(&v, &f(r#"{"is-official":["maybe"]}"#)).is_err());
    }
}
