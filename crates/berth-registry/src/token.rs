//! Bearer token auth (Docker's token flow), with the registry as its own token server.
//!
//! A request without a token gets `401` and `WWW-Authenticate: Bearer realm=..,service=..,
//! scope=..` naming what it needs; the client asks the realm (`GET /token?service=&scope=`,
//! served here, credentials checked against the htpasswd file) and retries with the token.
//! Tokens are `base64url(claims).base64url(HMAC-SHA256(key, claims))` with a key drawn at
//! start, so only this process can mint or verify them and a restart invalidates them (clients
//! then simply ask again). Claims carry the granted access the way Docker's tokens do:
//! `[{"type":"repository","name":"a/b","actions":["pull","push"]}]`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// How long an issued token is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);

/// Where clients get tokens, as `berth registry serve --token-realm/--token-service` set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// The token endpoint's URL announced in challenges (this registry's `/token`).
    pub realm: String,
    /// The service name announced in challenges and expected in tokens.
    pub service: String,
}

/// One access grant or request: `repository:a/b:pull,push`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name (or `catalog`).
    pub name: String,
    /// `pull`, `push`, `delete` or `*`.
    pub actions: Vec<String>,
}

impl Access {
    /// Parses a scope string; `None` for anything malformed.
    pub fn parse(scope: &str) -> Option<Self> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() || name.len() > 255 {
            return None;
        }
        let actions = actions.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect();
        Some(Self { kind: kind.to_owned(), name: name.to_owned(), actions })
    }

    fn allows(&self, kind: &str, name: &str, action: &str) -> bool {
        self.kind == kind && self.name == name && self.actions.iter().any(|a| a == action || a == "*")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    access: Vec<Access>,
}

/// Mints and verifies this registry's tokens.
pub struct TokenAuth {
    key: [u8; 32],
    config: TokenConfig,
}

impl std::fmt::Debug for TokenAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuth").field("config", &self.config).finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// HMAC-SHA256 (RFC 2104) over a 32-byte key.
fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new().chain_update(ipad).chain_update(message).finalize();
    Sha256::new().chain_update(opad).chain_update(inner).finalize().into()
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

impl TokenAuth {
    /// A token authority with a fresh random key.
    pub fn new(config: TokenConfig) -> Result<Self, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(Self { key, config })
    }

    /// A token for `subject` granting `access`, valid for [`TOKEN_TTL`] from `at` (unix secs).
    pub fn issue(&self, subject: &str, access: Vec<Access>, at: u64) -> String {
        let claims = Claims {
            iss: self.config.service.clone(),
            sub: subject.to_owned(),
            aud: self.config.service.clone(),
            exp: at + TOKEN_TTL.as_secs(),
            iat: at,
            access,
        };
        let payload = b64().encode(serde_json::to_vec(&claims).unwrap_or_default());
        let mac = b64().encode(hmac(&self.key, payload.as_bytes()));
        format!("{payload}.{mac}")
    }

    /// The grants of a token this authority issued and that has not expired at `at`.
    fn verify_at(&self, token: &str, at: u64) -> Option<Vec<Access>> {
        let (payload, mac) = token.split_once('.')?;
        let mac = b64().decode(mac).ok()?;
        let want = hmac(&self.key, payload.as_bytes());
        // Constant-time comparison: no early exit on the first differing byte.
        if mac.len() != want.len() || mac.iter().zip(want.iter()).fold(0u8, |d, (a, b)| d | (a ^ b)) != 0 {
            return None;
        }
        let claims: Claims = serde_json::from_slice(&b64().decode(payload).ok()?).ok()?;
        (claims.exp > at && claims.aud == self.config.service).then_some(claims.access)
    }

    /// Whether the `Authorization` header holds a valid token allowing every `(kind, name,
    /// action)` of `needs` (an empty list: any valid token).
    pub fn allows(&self, authorization: Option<&str>, needs: &[(&str, &str, &str)]) -> bool {
        let Some(token) = authorization.and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))) else {
            return false;
        };
        let Some(grants) = self.verify_at(token.trim(), now()) else { return false };
        needs.iter().all(|(kind, name, action)| grants.iter().any(|g| g.allows(kind, name, action)))
    }

    /// The challenge sent with a 401, naming `scopes` (space-separated) when there are any.
    pub fn challenge(&self, scopes: &[String]) -> String {
        let mut c = format!("Bearer realm=\"{}\",service=\"{}\"", self.config.realm, self.config.service);
        if !scopes.is_empty() {
            c.push_str(&format!(",scope=\"{}\"", scopes.join(" ")));
        }
        c
    }

    /// The token endpoint's answer for `subject` granted `access` now.
    pub fn answer(&self, subject: &str, access: Vec<Access>) -> serde_json::Value {
        let at = now();
        let token = self.issue(subject, access, at);
        let issued = chrono_like_rfc3339(at);
        serde_json::json!({"token": token, "access_token": token, "expires_in": TOKEN_TTL.as_secs(), "issued_at": issued})
    }

    /// The service name tokens are issued for.
    pub fn service(&self) -> &str {
        &self.config.service
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a unix time (civil-from-days, no calendar crate needed).
fn chrono_like_rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority() -> TokenAuth {
        TokenAuth::new(TokenConfig { realm: "http://127.0.0.1:5000/token".into(), service: "reg".into() }).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn hmac_matches_a_reference_implementation() {
        // Python: hmac.new(b"\x0b" * 32, b"Hi There", hashlib.sha256).hexdigest()
        let mac = hmac(&[0x0b; 32], b"Hi There");
        assert_eq!(hex::encode(mac), "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7");
    }

    #[test]
    fn scopes_parse() {
        let a = Access::parse("repository:team/app:pull,push").unwrap_or_else(|| panic!("parse"));
        assert_eq!((a.kind.as_str(), a.name.as_str(), a.actions.clone()), ("repository", "team/app", vec!["pull".to_owned(), "push".to_owned()]));
        assert!(Access::parse("repository").is_none());
        assert!(Access::parse(":x:pull").is_none());
    }

    #[test]
    fn tokens_grant_only_what_they_say_and_only_from_this_key() {
        let auth = authority();
        let t = auth.issue("alice", vec![Access::parse("repository:a/b:pull").unwrap_or_else(|| panic!("parse"))], now());
        let h = format!("Bearer {t}");
        assert!(auth.allows(Some(&h), &[("repository", "a/b", "pull")]));
        assert!(auth.allows(Some(&h), &[]));
        assert!(!auth.allows(Some(&h), &[("repository", "a/b", "push")]));
        assert!(!auth.allows(Some(&h), &[("repository", "a/c", "pull")]));
        assert!(!auth.allows(None, &[]));
        assert!(!auth.allows(Some(&format!("Basic {t}")), &[]));
        // Another process's key, a tampered payload, an expired token: all refused.
        assert!(!authority().allows(Some(&h), &[]));
        let forged = t.replacen('e', "f", 1);
        assert!(forged == t || !auth.allows(Some(&format!("Bearer {forged}")), &[]));
        let old = auth.issue("alice", vec![], now() - 3600);
        assert!(!auth.allows(Some(&format!("Bearer {old}")), &[]));
        let (payload, _) = t.split_once('.').unwrap_or_else(|| panic!("dot"));
        assert!(!auth.allows(Some(&format!("Bearer {payload}.AAAA")), &[]));
    }

    #[test]
    fn challenge_and_timestamps() {
        let auth = authority();
        assert_eq!(auth.challenge(&["repository:a:pull".into()]), "Bearer realm=\"http://127.0.0.1:5000/token\",service=\"reg\",scope=\"repository:a:pull\"");
        assert_eq!(chrono_like_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(chrono_like_rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    }
}
