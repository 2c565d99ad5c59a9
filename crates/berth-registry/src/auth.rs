//! Basic authentication against an htpasswd file of bcrypt entries (`htpasswd -B`).
//!
//! With a [`TokenAuth`] the registry speaks the bearer token flow instead (see
//! [`crate::token`]): the API wants tokens, and the htpasswd file guards the token endpoint.
//! Verified credentials are cached by a hash of user, password and entry, so a client sending
//! basic auth on every request costs one bcrypt verification, not one per request.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::errors::ApiError;
use crate::token::{Access, TokenAuth};
use crate::Registry;

/// Verified credentials remembered before the cache is cleared.
const CACHE_LIMIT: usize = 1024;

/// Why an htpasswd file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The file could not be read.
    #[error("reading htpasswd file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line is not `user:bcrypt-hash`.
    #[error("htpasswd line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Users and their bcrypt hashes.
#[derive(Debug, Clone, Default)]
pub struct Htpasswd {
    users: HashMap<String, String>,
}

impl Htpasswd {
    /// Parses htpasswd text. Only bcrypt entries (`$2a$`, `$2b$`, `$2x$`, `$2y$`) are accepted:
    /// the MD5, SHA1 and crypt formats are weak and refused loudly rather than skipped.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: &str| AuthError::Line { line: i + 1, reason: reason.to_owned() };
            let (user, hash) = line.split_once(':').ok_or_else(|| err("expected user:hash"))?;
            if user.is_empty() {
                return Err(err("empty user name"));
            }
            if !["$2a$", "$2b$", "$2x$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
                return Err(err(&format!("user {user:?} has a non-bcrypt hash; use htpasswd -B")));
            }
            users.insert(user.to_owned(), hash.to_owned());
        }
        Ok(Self { users })
    }

    /// Reads and parses an htpasswd file.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read { path: path.to_owned(), source })?;
        Self::parse(&text)
    }

    /// Number of users, for startup logging.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when the file names no user (every request would be refused).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Who may do what: every request needs credentials, or only writes do.
#[derive(Debug)]
pub struct AuthPolicy {
    htpasswd: Htpasswd,
    writes_only: bool,
    verified: Mutex<HashSet<[u8; 32]>>,
    token: Option<TokenAuth>,
}

impl AuthPolicy {
    /// A policy over `htpasswd`. With `writes_only`, GET and HEAD without credentials are
    /// allowed (a public pull, authenticated push registry); credentials that are sent are
    /// still checked, so `docker login` fails on a wrong password.
    pub fn new(htpasswd: Htpasswd, writes_only: bool) -> Self {
        Self { htpasswd, writes_only, verified: Mutex::new(HashSet::new()), token: None }
    }

    /// Switches the API to bearer tokens minted by `token`; the htpasswd file then guards the
    /// token endpoint (`GET /token`), and `writes_only` lets anonymous callers get pull tokens.
    pub fn with_token(mut self, token: TokenAuth) -> Self {
        self.token = Some(token);
        self
    }

    /// Checks basic credentials; returns the user name.
    async fn verify_basic(&self, value: &str) -> Result<String, ApiError> {
        let (user, password) = parse_basic(value).ok_or(ApiError::Unauthorized)?;
        let hash = self.htpasswd.users.get(&user).ok_or(ApiError::Unauthorized)?.clone();
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        if self.verified.lock().is_ok_and(|v| v.contains(&key)) {
            return Ok(user);
        }
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false)).await.unwrap_or(false);
        if !ok {
            return Err(ApiError::Unauthorized);
        }
        if let Ok(mut v) = self.verified.lock() {
            if v.len() >= CACHE_LIMIT {
                v.clear();
            }
            v.insert(key);
        }
        Ok(user)
    }

    /// Token mode: whether the request's bearer token allows it; otherwise the challenge
    /// naming the scopes it needs.
    fn check_token(&self, token: &TokenAuth, method: &Method, headers: &HeaderMap, path: &str, query: Option<&str>) -> Result<(), ApiError> {
        let read = method == Method::GET || method == Method::HEAD;
        if self.writes_only && read && !headers.contains_key(header::AUTHORIZATION) {
            return Ok(());
        }
        let (needs, scopes) = crate::routes::required_access(method, path, query);
        let needs_ref: Vec<(&str, &str, &str)> = needs.iter().map(|(k, n, a)| (k.as_str(), n.as_str(), *a)).collect();
        let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if token.allows(authorization, &needs_ref) {
            return Ok(());
        }
        Err(ApiError::BearerRequired(token.challenge(&scopes)))
    }

    /// `GET /token`: a token for the scopes asked for, limited to what the caller may do:
    /// everything for a user of the htpasswd file, pulls for anonymous callers of a
    /// `writes_only` registry, nothing otherwise (401).
    pub(crate) async fn issue_token(&self, headers: &HeaderMap, query: &[(String, String)]) -> Result<serde_json::Value, ApiError> {
        let Some(token) = &self.token else { return Err(ApiError::RouteUnknown) };
        if let Some(service) = query.iter().find(|(k, _)| k == "service").map(|(_, v)| v) {
            if service != token.service() {
                return Err(ApiError::Denied);
            }
        }
        let user = match headers.get(header::AUTHORIZATION) {
            Some(v) => Some(self.verify_basic(v.to_str().unwrap_or_default()).await?),
            None if self.writes_only => None,
            None => return Err(ApiError::Unauthorized),
        };
        let allowed: &[&str] = if user.is_some() { &["pull", "push", "delete", "*"] } else { &["pull"] };
        let access = query
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').filter_map(Access::parse).collect::<Vec<_>>())
            .filter(|a| a.kind == "repository" || (a.kind == "registry" && a.name == "catalog" && user.is_some()))
            .map(|mut a| {
                a.actions.retain(|x| allowed.contains(&x.as_str()));
                a
            })
            .filter(|a| !a.actions.is_empty())
            .collect();
        Ok(token.answer(user.as_deref().unwrap_or(""), access))
    }

    /// Decides whether a request may proceed.
    pub(crate) async fn check(self: &Arc<Self>, method: &Method, headers: &HeaderMap, path: &str, query: Option<&str>) -> Result<(), ApiError> {
        if let Some(token) = &self.token {
            return self.check_token(token, method, headers, path, query);
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            let read = method == Method::GET || method == Method::HEAD;
            return if self.writes_only && read { Ok(()) } else { Err(ApiError::Unauthorized) };
        };
        self.verify_basic(value.to_str().unwrap_or_default()).await.map(|_| ())
    }
}

/// Decodes `Basic base64(user:password)`.
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Middleware refusing requests the registry's policy does not allow.
pub(crate) async fn middleware(State(registry): State<Arc<Registry>>, request: Request, next: Next) -> Response {
    if let Some(policy) = &registry.auth {
        let uri = request.uri();
        if let Err(e) = policy.check(request.method(), request.headers(), uri.path(), uri.query()).await {
            return e.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// Written by `htpasswd -nbB -C 5 alice 's3cret pass'`.
    const ALICE: &str = "alice:$2y$05$eU7SFbsO81OaRmUdFMdTDuXtPeLs1VjTaL5pEh6LOo28ZmILk9GlK";

    fn basic(user: &str, pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Basic {token}")).expect("header"));
        h
    }

    #[test]
    fn parse_refuses_non_bcrypt_and_skips_comments() {
        assert_eq!(Htpasswd::parse(&format!("# c\n\n{ALICE}\n")).expect("ok").len(), 1);
        assert!(Htpasswd::parse("bob:$apr1$abc$def").is_err());
        assert!(Htpasswd::parse("bob").is_err());
    }

    #[tokio::test]
    async fn checks_credentials_from_apache_htpasswd() {
        let p = Arc::new(AuthPolicy::new(Htpasswd::parse(ALICE).expect("parse"), false));
        assert!(p.check(&Method::GET, &basic("alice", "s3cret pass"), "/v2/", None).await.is_ok());
        assert!(p.check(&Method::GET, &basic("alice", "s3cret pass"), "/v2/", None).await.is_ok(), "cached");
        assert!(p.check(&Method::GET, &basic("alice", "wrong"), "/v2/", None).await.is_err());
        assert!(p.check(&Method::GET, &basic("mallory", "s3cret pass"), "/v2/", None).await.is_err());
        assert!(p.check(&Method::GET, &HeaderMap::new(), "/v2/", None).await.is_err());
    }

    #[tokio::test]
    async fn writes_only_lets_anonymous_reads_through() {
        let p = Arc::new(AuthPolicy::new(Htpasswd::parse(ALICE).expect("parse"), true));
        assert!(p.check(&Method::GET, &HeaderMap::new(), "/v2/", None).await.is_ok());
        assert!(p.check(&Method::HEAD, &HeaderMap::new(), "/v2/", None).await.is_ok());
        assert!(p.check(&Method::PUT, &HeaderMap::new(), "/v2/", None).await.is_err());
        assert!(p.check(&Method::GET, &basic("alice", "wrong"), "/v2/", None).await.is_err());
        assert!(p.check(&Method::POST, &basic("alice", "s3cret pass"), "/v2/", None).await.is_ok());
    }
}
