//! Errors of the registry client. Every registry answer that is not what the spec promises
//! becomes one of these; nothing a registry sends can make the client panic.

/// One entry of a registry's `{"errors":[{code,message,detail}]}` body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryErrorItem {
    /// The spec's code (`MANIFEST_UNKNOWN`, `DENIED`, ...); empty when the body had none.
    pub code: String,
    /// The registry's message.
    pub message: String,
}

impl RegistryErrorItem {
    /// Docker's spelling of an error code: `MANIFEST_UNKNOWN` is "manifest unknown".
    pub fn code_text(&self) -> String {
        self.code.to_ascii_lowercase().replace('_', " ")
    }
}

impl std::fmt::Display for RegistryErrorItem {
    /// `manifest unknown: manifest unknown`, as the docker daemon prints registry errors.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code.is_empty(), self.message.is_empty()) {
            (false, false) => write!(f, "{}: {}", self.code_text(), self.message),
            (false, true) => write!(f, "{}", self.code_text()),
            (true, false) => write!(f, "{}", self.message),
            (true, true) => write!(f, "unknown error"),
        }
    }
}

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The registry could not be reached (DNS, TCP, TLS, a dropped connection).
    #[error("{url}: {message}")]
    Transport {
        /// The URL being requested.
        url: String,
        /// What failed.
        message: String,
    },
    /// The registry answered with an error status.
    #[error("{}", registry_message(.status, .errors))]
    Registry {
        /// HTTP status.
        status: u16,
        /// The errors of the body (possibly none).
        errors: Vec<RegistryErrorItem>,
        /// The URL requested.
        url: String,
    },
    /// Authentication was required and failed (or no credentials were given).
    #[error("{0}")]
    Unauthorized(String),
    /// The registry answered something the spec does not allow (bad header, oversized body).
    #[error("{0}")]
    Protocol(String),
    /// A caller-side argument is invalid (bad digest, bad repository name).
    #[error("{0}")]
    Invalid(String),
    /// Local I/O while streaming a body.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

fn registry_message(status: &u16, errors: &[RegistryErrorItem]) -> String {
    match errors.first() {
        Some(e) => e.to_string(),
        None => format!("registry answered {}", status_text(*status)),
    }
}

/// `404 Not Found`, as Go prints statuses.
pub fn status_text(status: u16) -> String {
    let reason = hyper::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    format!("{status} {reason}").trim_end().to_string()
}

impl ClientError {
    /// The first registry error code (`MANIFEST_UNKNOWN`, ...), if the registry sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Registry { errors, .. } => errors.first().map(|e| e.code.as_str()).filter(|c| !c.is_empty()),
            _ => None,
        }
    }

    /// The HTTP status of a registry error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Registry { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The first registry error item, if any.
    pub fn first_error(&self) -> Option<&RegistryErrorItem> {
        match self {
            ClientError::Registry { errors, .. } => errors.first(),
            _ => None,
        }
    }

    /// Whether retrying the same request may succeed (the connection dropped).
    pub fn is_transport(&self) -> bool {
        matches!(self, ClientError::Transport { .. })
    }

    pub(crate) fn transport(url: &str, e: impl std::fmt::Display) -> Self {
        ClientError::Transport { url: url.to_string(), message: e.to_string() }
    }
}

/// Parses a registry error body; anything unparsable yields no items.
pub fn parse_error_body(body: &[u8]) -> Vec<RegistryErrorItem> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: serde_json::Value,
        #[serde(default)]
        message: serde_json::Value,
    }
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string).unwrap_or_default();
    serde_json::from_slice::<Body>(body)
        .map(|b| b.errors.iter().map(|i| RegistryErrorItem { code: text(&i.code), message: text(&i.message) }).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let items = parse_error_body(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].to_string(), "manifest unknown: manifest unknown");
        assert!(parse_error_body(b"<html>").is_empty());
        assert!(parse_error_body(br#"{"errors":[{"code":5}]}"#)[0].code.is_empty());
        let e = ClientError::Registry { status: 404, errors: vec![], url: "u".into() };
        assert_eq!(e.to_string(), "registry answered 404 Not Found");
    }
}
