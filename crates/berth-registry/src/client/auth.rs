//! Authorization against a registry: nothing, basic credentials, or a bearer token from the
//! challenge's realm (Docker's token flow: `GET realm?service=&scope=` with basic
//! credentials, or the OAuth2 refresh-token form when an identity token is held).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hyper::{Method, Request};

use super::challenge::Challenge;
use super::error::ClientError;
use super::http;
use super::RegistryClient;

/// Largest token answer read.
const TOKEN_ANSWER_LIMIT: usize = 1 << 20;

/// Credentials for one registry (what `X-Registry-Auth` carries).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// User name for basic auth or the token realm.
    pub username: String,
    /// Password.
    pub password: String,
    /// An OAuth2 refresh token from an earlier login.
    pub identity_token: String,
    /// A bearer token to use as it is.
    pub registry_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

impl Credentials {
    /// User name and password.
    pub fn basic(username: &str, password: &str) -> Self {
        Self { username: username.into(), password: password.into(), ..Default::default() }
    }

    /// Whether nothing is held.
    pub fn is_anonymous(&self) -> bool {
        self.username.is_empty() && self.identity_token.is_empty() && self.registry_token.is_empty()
    }

    /// `Basic base64(user:password)`, when a user name is held.
    pub fn basic_header(&self) -> Option<String> {
        if self.username.is_empty() {
            return None;
        }
        let raw = format!("{}:{}", self.username, self.password);
        Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)))
    }
}

struct Token {
    value: String,
    expires: Instant,
}

/// What a token realm answered.
struct TokenAnswer {
    token: String,
    refresh: String,
    ttl: Duration,
}

/// The authorization of one repository session.
pub(crate) struct Authorizer {
    creds: Credentials,
    challenges: Mutex<Vec<Challenge>>,
    scopes: Mutex<Vec<String>>,
    insecure: bool,
    token: tokio::sync::Mutex<Option<Token>>,
}

enum Scheme {
    None,
    Basic,
    Bearer(Challenge),
}

impl Authorizer {
    pub(crate) fn new(creds: Credentials, challenges: Vec<Challenge>, scopes: Vec<String>, insecure: bool) -> Self {
        Self { creds, challenges: Mutex::new(challenges), scopes: Mutex::new(scopes), insecure, token: tokio::sync::Mutex::new(None) }
    }

    fn scheme(&self) -> Scheme {
        let challenges = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = challenges.iter().find(|c| c.scheme == "bearer") {
            return Scheme::Bearer(b.clone());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            return Scheme::Basic;
        }
        Scheme::None
    }

    fn scopes(&self) -> Vec<String> {
        self.scopes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The `Authorization` value for the next request, fetching a token when needed.
    pub(crate) async fn header(&self, client: &RegistryClient) -> Result<Option<String>, ClientError> {
        match self.scheme() {
            Scheme::None => Ok(None),
            Scheme::Basic => Ok(self.creds.basic_header()),
            Scheme::Bearer(ch) => {
                let mut slot = self.token.lock().await;
                if let Some(t) = slot.as_ref() {
                    if t.expires > Instant::now() + Duration::from_secs(10) {
                        return Ok(Some(format!("Bearer {}", t.value)));
                    }
                }
                let answer = self.fetch_token(client, &ch, &self.scopes(), false).await?;
                let value = answer.token.clone();
                *slot = Some(Token { value: answer.token, expires: Instant::now() + answer.ttl });
                Ok(Some(format!("Bearer {value}")))
            }
        }
    }

    /// Takes in the challenges of a 401; returns whether a retry can succeed (a token may have
    /// expired, or the registry asked for another scheme or scope).
    pub(crate) async fn on_unauthorized(&self, challenges: Vec<super::Challenge>) -> bool {
        if challenges.is_empty() {
            return false;
        }
        let had_token = self.token.lock().await.take().is_some();
        let mut changed = false;
        for ch in challenges.iter().filter(|c| c.scheme == "bearer") {
            if let Some(scope) = ch.param("scope") {
                let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
                for s in scope.split(' ').filter(|s| !s.is_empty()) {
                    if !scopes.iter().any(|have| have == s) {
                        scopes.push(s.to_string());
                        changed = true;
                    }
                }
            }
        }
        let mut known = self.challenges.lock().unwrap_or_else(|p| p.into_inner());
        let schemes_differ = known.iter().map(|c| &c.scheme).ne(challenges.iter().map(|c| &c.scheme));
        *known = challenges;
        had_token || changed || schemes_differ
    }

    /// Verifies the credentials as `docker login` does; returns an identity token if the realm
    /// issued a refresh token.
    pub(crate) async fn login(&self, client: &RegistryClient, ping_url: &str) -> Result<String, ClientError> {
        let denied = |status: &str| ClientError::Unauthorized(format!("login attempt to {ping_url} failed with status: {status}"));
        match self.scheme() {
            Scheme::None => Ok(String::new()),
            Scheme::Bearer(ch) => match self.fetch_token(client, &ch, &[], true).await {
                Ok(answer) => Ok(answer.refresh),
                Err(ClientError::Registry { status, .. }) => Err(denied(&super::status_text(status))),
                Err(ClientError::Unauthorized(_)) => Err(denied("401 Unauthorized")),
                Err(e) => Err(e),
            },
            Scheme::Basic => {
                let basic = self.creds.basic_header().ok_or_else(|| denied("401 Unauthorized"))?;
                let req = Request::builder()
                    .method(Method::GET)
                    .uri(ping_url)
                    .header(hyper::header::AUTHORIZATION, basic)
                    .body(http::empty())
                    .map_err(|e| ClientError::Invalid(e.to_string()))?;
                let resp = client.send(self.insecure, req, http::ANSWER_TIMEOUT).await?;
                match resp.status().as_u16() {
                    200 => Ok(String::new()),
                    s => Err(denied(&super::status_text(s))),
                }
            }
        }
    }

    fn token_request(&self, ch: &Challenge, scopes: &[String], offline: bool) -> Result<Request<http::ReqBody>, ClientError> {
        let realm = ch.param("realm").unwrap_or_default();
        if !(realm.starts_with("https://") || realm.starts_with("http://")) {
            return Err(ClientError::Protocol(format!("registry announced an unusable token realm {realm:?}")));
        }
        let service = ch.param("service").unwrap_or_default();
        if !self.creds.identity_token.is_empty() {
            let mut form = format!(
                "grant_type=refresh_token&refresh_token={}&service={}&client_id=docker",
                http::encode(&self.creds.identity_token),
                http::encode(service)
            );
            if !scopes.is_empty() {
                form.push_str(&format!("&scope={}", http::encode(&scopes.join(" "))));
            }
            return Request::builder()
                .method(Method::POST)
                .uri(realm)
                .header(hyper::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(http::full(form))
                .map_err(|e| ClientError::Protocol(format!("token realm {realm:?}: {e}")));
        }
        let mut url = http::with_query(realm, "service", service);
        for s in scopes {
            url = http::with_query(&url, "scope", s);
        }
        url = http::with_query(&url, "client_id", "docker");
        if offline {
            url = http::with_query(&url, "offline_token", "true");
        }
        let basic = self.creds.basic_header();
        if basic.is_some() {
            url = http::with_query(&url, "account", &self.creds.username);
        }
        let mut builder = Request::builder().method(Method::GET).uri(&url);
        if let Some(basic) = basic {
            builder = builder.header(hyper::header::AUTHORIZATION, basic);
        }
        builder.body(http::empty()).map_err(|e| ClientError::Protocol(format!("token realm {realm:?}: {e}")))
    }

    async fn fetch_token(&self, client: &RegistryClient, ch: &Challenge, scopes: &[String], offline: bool) -> Result<TokenAnswer, ClientError> {
        if !self.creds.registry_token.is_empty() {
            return Ok(TokenAnswer { token: self.creds.registry_token.clone(), refresh: String::new(), ttl: Duration::from_secs(3600) });
        }
        let req = self.token_request(ch, scopes, offline)?;
        let url = req.uri().to_string();
        let resp = client.send(self.insecure, req, http::ANSWER_TIMEOUT).await?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            let err = http::error_from(resp, &url).await;
            return Err(ClientError::Unauthorized(format!("unauthorized: {}", token_error_text(&err))));
        }
        if !(200..300).contains(&status) {
            return Err(http::error_from(resp, &url).await);
        }
        let body = http::read_limited(resp.into_body(), TOKEN_ANSWER_LIMIT, &url).await?;
        parse_token_answer(&body).ok_or_else(|| ClientError::Protocol(format!("{url}: malformed token answer")))
    }
}

fn token_error_text(e: &ClientError) -> String {
    match e.first_error() {
        Some(item) if !item.message.is_empty() => item.message.clone(),
        _ => "authentication required".into(),
    }
}

fn parse_token_answer(body: &[u8]) -> Option<TokenAnswer> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |k: &str| v.get(k).and_then(|t| t.as_str()).unwrap_or_default().to_string();
    let token = Some(text("token")).filter(|t| !t.is_empty()).unwrap_or_else(|| text("access_token"));
    if token.is_empty() || token.len() > 64 * 1024 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let ttl = v.get("expires_in").and_then(|e| e.as_u64()).unwrap_or(60).clamp(10, 24 * 3600);
    Some(TokenAnswer { token, refresh: text("refresh_token"), ttl: Duration::from_secs(ttl) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers() {
        let a = parse_token_answer(br#"{"token":"abc","expires_in":300}"#).unwrap_or_else(|| panic!("parse"));
        assert_eq!(a.token, "abc");
        assert_eq!(a.ttl, Duration::from_secs(300));
        let a = parse_token_answer(br#"{"access_token":"xyz","refresh_token":"r"}"#).unwrap_or_else(|| panic!("parse"));
        assert_eq!((a.token.as_str(), a.refresh.as_str(), a.ttl), ("xyz", "r", Duration::from_secs(60)));
        assert!(parse_token_answer(br#"{"token":""}"#).is_none());
        assert!(parse_token_answer(br#"{"token":"a\nb"}"#).is_none());
        assert!(parse_token_answer(b"nope").is_none());
    }

    #[test]
    fn basic_header_and_debug_hide_secrets() {
        let c = Credentials::basic("u", "p");
        assert_eq!(c.basic_header().as_deref(), Some("Basic dTpw"));
        assert!(!format!("{c:?}").contains("\"p\""));
        assert!(Credentials::default().basic_header().is_none());
        assert!(Credentials::default().is_anonymous());
    }

    #[test]
    fn token_requests() {
        let ch = super::super::challenge::parse(r#"Bearer realm="http://a/token",service="reg""#).remove(0);
        let auth = Authorizer::new(Credentials::basic("u", "p"), vec![ch.clone()], vec![], true);
        let req = auth.token_request(&ch, &["repository:a/b:pull,push".into()], false).unwrap_or_else(|e| panic!("{e}"));
        let uri = req.uri().to_string();
        assert!(uri.starts_with("http://a/token?service=reg&scope=repository%3Aa%2Fb%3Apull%2Cpush&client_id=docker&account=u"), "{uri}");
        assert!(req.headers().contains_key(hyper::header::AUTHORIZATION));
        let bad = super::super::challenge::parse(r#"Bearer realm="file:///etc/passwd""#).remove(0);
        assert!(auth.token_request(&bad, &[], false).is_err());
    }
}
