//! The listener: plain HTTP or TLS (rustls), one task per connection, graceful shutdown.
//!
//! TLS handshakes run inside each connection's task under a timeout, so a slow client cannot
//! stall `accept`. On shutdown the listener closes, in-flight requests get a grace period, and
//! unfinished uploads stay on disk to be resumed.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::auth::{AuthError, AuthPolicy, Htpasswd};
use crate::storage::StorageError;
use crate::Registry;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Everything `berth registry serve` configures.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on, e.g. `127.0.0.1:5000` (port 0 picks a free one).
    pub addr: SocketAddr,
    /// Storage root.
    pub root: PathBuf,
    /// Certificate and key for HTTPS; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// htpasswd file (bcrypt entries) enabling basic auth; open registry when `None`.
    pub htpasswd: Option<PathBuf>,
    /// With `htpasswd`: allow anonymous GET/HEAD, require credentials only for writes.
    pub auth_writes_only: bool,
    /// Bearer token mode (needs `htpasswd`, which then guards the `/token` endpoint).
    pub token: Option<crate::token::TokenConfig>,
}

/// PEM files for TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The storage root could not be opened.
    #[error("opening registry storage: {0}")]
    Storage(#[from] StorageError),
    /// The htpasswd file could not be loaded.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The certificate or key could not be loaded.
    #[error("tls {path}: {reason}")]
    Tls {
        /// The offending file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Listening failed.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The options contradict each other.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A bound, not yet running server; bind first to learn the port, then [`Server::run`].
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    tls: Option<TlsAcceptor>,
}

impl Server {
    /// Opens storage, loads auth and TLS material, and binds the listener.
    pub async fn bind(config: &ServeConfig) -> Result<Self, ServeError> {
        let auth = match (&config.htpasswd, config.auth_writes_only) {
            (Some(path), writes_only) => {
                let policy = AuthPolicy::new(Htpasswd::load(path)?, writes_only);
                match &config.token {
                    Some(t) => Some(policy.with_token(crate::token::TokenAuth::new(t.clone()).map_err(|e| ServeError::Config(format!("token key: {e}")))?)),
                    None => Some(policy),
                }
            }
            (None, true) => return Err(ServeError::Config("--auth-writes-only needs --htpasswd".into())),
            (None, false) if config.token.is_some() => return Err(ServeError::Config("--token-realm needs --htpasswd".into())),
            (None, false) => None,
        };
        let registry = Arc::new(Registry::open(&config.root, auth)?);
        let tls = config.tls.as_ref().map(load_tls).transpose()?;
        let listener = TcpListener::bind(config.addr).await.map_err(|source| ServeError::Bind { addr: config.addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: config.addr, source })?;
        Ok(Self { listener, local_addr, router: crate::router(registry), tls })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish (bounded).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        tracing::info!(addr = %self.local_addr, tls = self.tls.is_some(), "registry listening");
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let tcp = match accepted {
                Ok((tcp, _peer)) => tcp,
                Err(e) => {
                    // Out of fds or similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let watcher = graceful.watcher();
            let (router, tls) = (self.router.clone(), self.tls.clone());
            tokio::spawn(async move { connection(tcp, router, tls, watcher).await });
        }
        drop(self.listener);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("connections still open at shutdown"),
        }
        Ok(())
    }
}

async fn connection(tcp: TcpStream, router: Router, tls: Option<TlsAcceptor>, watcher: hyper_util::server::graceful::Watcher) {
    let _ = tcp.set_nodelay(true);
    match tls {
        None => serve_io(tcp, router, watcher).await,
        Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => serve_io(stream, router, watcher).await,
            Ok(Err(e)) => tracing::debug!(error = %e, "tls handshake failed"),
            Err(_) => tracing::debug!("tls handshake timed out"),
        },
    }
}

async fn serve_io<S>(io: S, router: Router, watcher: hyper_util::server::graceful::Watcher)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

fn load_tls(files: &TlsFiles) -> Result<TlsAcceptor, ServeError> {
    let tls_err = |path: &Path, reason: String| ServeError::Tls { path: path.to_owned(), reason };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| tls_err(&files.cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(&files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_err(&files.cert, "no certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| tls_err(&files.key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&files.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_err(&files.key, e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Binds and serves until `shutdown` completes: what `berth registry serve` runs.
pub async fn serve(config: ServeConfig, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
    Server::bind(&config).await?.run(shutdown).await
}

/// Completes on SIGINT or SIGTERM, for use as `serve`'s shutdown future.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
