//! HTTPS with a certificate made by the `openssl` tool, checked by a rustls client.

use std::process::Command;
use std::sync::Arc;

use berth_registry::TlsFiles;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls;

use crate::common::*;

fn make_cert(dir: &std::path::Path) -> TlsFiles {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the TLS test needs the openssl command (Debian package openssl)");
    assert!(status.status.success(), "openssl failed: {}", String::from_utf8_lossy(&status.stderr));
    TlsFiles { cert, key }
}

#[tokio::test]
async fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let files = make_cert(dir.path());
    let reg = TestRegistry::start_with(Opts { tls: Some(files.clone()), ..Opts::default() }).await;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&files.cert).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(reg.addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get("/v2/").header("host", "127.0.0.1").body(Empty::<bytes::Bytes>::new()).unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), hyper::StatusCode::OK);
    assert_eq!(resp.headers()["docker-distribution-api-version"], "registry/2.0");
    let _ = resp.into_body().collect().await.unwrap();

    // Plain HTTP to the TLS port gets nothing useful.
    let plain = tokio::net::TcpStream::connect(reg.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(plain)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::get("/v2/").body(Empty::<bytes::Bytes>::new()).unwrap();
    assert!(sender.send_request(req).await.is_err());
}

#[tokio::test]
async fn bad_tls_files_fail_at_bind() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let config = berth_registry::ServeConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        root: dir.path().join("root"),
        tls: Some(TlsFiles { cert: dir.path().join("empty.pem"), key: dir.path().join("empty.pem") }),
        htpasswd: None,
        auth_writes_only: false,
        token: None,
    };
    assert!(matches!(berth_registry::Server::bind(&config).await, Err(berth_registry::ServeError::Tls { .. })));
}
