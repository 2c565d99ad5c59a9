//! Docker's auth config: the base64url JSON of `X-Registry-Auth` and the JSON body of
//! `POST /auth` (`username`, `password`, `auth`, `serveraddress`, `identitytoken`,
//! `registrytoken`; keys matched case-insensitively, as Go's decoder does).

use base64::Engine as _;
use berth_registry::client::Credentials;

/// A decoded auth config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// The credentials it carries.
    pub credentials: Credentials,
    /// `serveraddress`: the registry the credentials are for.
    pub server_address: String,
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    [URL_SAFE, URL_SAFE_NO_PAD, STANDARD, STANDARD_NO_PAD].iter().find_map(|e| e.decode(s).ok())
}

impl AuthConfig {
    /// Parses the JSON form; unknown keys are ignored.
    pub fn from_json(bytes: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let obj = v.as_object()?;
        let get = |key: &str| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).and_then(|(_, v)| v.as_str()).unwrap_or_default().to_string();
        let mut credentials =
            Credentials { username: get("username"), password: get("password"), identity_token: get("identitytoken"), registry_token: get("registrytoken") };
        let auth = get("auth");
        if credentials.username.is_empty() && !auth.is_empty() {
            let pair = decode_base64(&auth).and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
            if let Some((u, p)) = pair.split_once(':') {
                credentials.username = u.to_string();
                credentials.password = p.to_string();
            }
        }
        Some(Self { credentials, server_address: get("serveraddress") })
    }

    /// Decodes an `X-Registry-Auth` header; a missing or undecodable one means anonymous.
    pub fn from_header(value: Option<&str>) -> Self {
        value.filter(|v| !v.trim().is_empty()).and_then(decode_base64).and_then(|json| Self::from_json(&json)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let json = r#"{"username":"u","password":"p","serveraddress":"127.0.0.1:5000"}"#;
        let url = base64::engine::general_purpose::URL_SAFE.encode(json);
        let a = AuthConfig::from_header(Some(&url));
        assert_eq!(a.credentials, Credentials::basic("u", "p"));
        assert_eq!(a.server_address, "127.0.0.1:5000");
        assert_eq!(AuthConfig::from_header(Some("e30=")), AuthConfig::default());
        assert_eq!(AuthConfig::from_header(None), AuthConfig::default());
        assert_eq!(AuthConfig::from_header(Some("%%%not base64")), AuthConfig::default());
        let auth = base64::engine::general_purpose::STANDARD.encode("x:y:z");
        let json = format!(r#"{{"Auth":"{auth}","IdentityToken":"tok"}}"#);
        let a = AuthConfig::from_header(Some(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)));
        assert_eq!((a.credentials.username.as_str(), a.credentials.password.as_str()), ("x", "y:z"));
        assert_eq!(a.credentials.identity_token, "tok");
    }
}
