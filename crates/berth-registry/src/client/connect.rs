//! Connections for the client: TCP, and rustls on top for `https` URLs. Two TLS setups exist:
//! verified against the system's roots, and (for registries configured insecure, as Docker
//! does) accepting any certificate.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

/// How long a TCP connect or TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A plain or TLS connection.
pub enum Stream {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Connects to the host of a URI; `https` gets TLS with the connector's configuration.
#[derive(Clone)]
pub struct Connector {
    tls: tokio_rustls::TlsConnector,
}

impl Connector {
    /// A connector verifying certificates against the system roots (`verify`), or accepting
    /// any certificate.
    pub fn new(verify: bool) -> Self {
        let config = if verify { verified_config() } else { unverified_config() };
        Self { tls: tokio_rustls::TlsConnector::from(config) }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots() -> Arc<rustls::RootCertStore> {
    static ROOTS: OnceLock<Arc<rustls::RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut store = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, ignored) = store.add_parsable_certificates(found.certs);
            tracing::debug!(added, ignored, "loaded system TLS roots");
            Arc::new(store)
        })
        .clone()
}

fn finish(builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>) -> Arc<rustls::ClientConfig> {
    let mut config = builder.with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn verified_config() -> Arc<rustls::ClientConfig> {
    match rustls::ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions() {
        Ok(b) => finish(b.with_root_certificates(roots())),
        // The ring provider supports the default versions; keep a working fallback anyway.
        Err(_) => finish(rustls::ClientConfig::builder().with_root_certificates(roots())),
    }
}

fn unverified_config() -> Arc<rustls::ClientConfig> {
    let p = provider();
    let verifier = Arc::new(AcceptAnyCert(p.clone()));
    match rustls::ClientConfig::builder_with_provider(p).with_safe_default_protocol_versions() {
        Ok(b) => finish(b.dangerous().with_custom_certificate_verifier(verifier)),
        Err(_) => finish(rustls::ClientConfig::builder().dangerous().with_custom_certificate_verifier(verifier)),
    }
}

/// Docker's `InsecureSkipVerify` for insecure registries: any certificate is accepted, but the
/// handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Host and port of a URI, with IPv6 brackets removed.
fn host_port(uri: &Uri) -> io::Result<(String, u16, bool)> {
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        other => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("unsupported URL scheme {other:?}"))),
    };
    let host = uri.host().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "URL without a host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Ok((host, port, tls))
}

async fn connect(tls: tokio_rustls::TlsConnector, uri: Uri) -> io::Result<TokioIo<Stream>> {
    let (host, port, use_tls) = host_port(&uri)?;
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    let _ = tcp.set_nodelay(true);
    if !use_tls {
        return Ok(TokioIo::new(Stream::Plain(tcp)));
    }
    let name = ServerName::try_from(host.clone()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("server name {host:?}: {e}")))?;
    let stream = tls.connect(name, tcp).await?;
    Ok(TokioIo::new(Stream::Tls(Box::new(stream))))
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<Stream>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        Box::pin(async move {
            match tokio::time::timeout(CONNECT_TIMEOUT, connect(tls, uri)).await {
                Ok(r) => r,
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports() {
        let u: Uri = "https://[::1]:5000/v2/".parse().unwrap_or_default();
        assert_eq!(host_port(&u).ok(), Some(("::1".to_string(), 5000, true)));
        let u: Uri = "http://registry.local/v2/".parse().unwrap_or_default();
        assert_eq!(host_port(&u).ok(), Some(("registry.local".to_string(), 80, false)));
        let u: Uri = "ftp://x/".parse().unwrap_or_default();
        assert!(host_port(&u).is_err());
    }
}
