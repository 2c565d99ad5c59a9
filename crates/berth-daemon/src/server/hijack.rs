//! The hijack protocol of attach and exec start: answer `101 UPGRADED`, then pump bytes
//! between the client's raw connection and the shim (multiplexed frames without a tty).

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use berth_api::stdcopy::{frame, StdStream};
use berth_runtime::client::{FrameReader, FrameWriter};
use berth_runtime::protocol::{FrameKind, Reply};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long we keep reading after output ended, so unread client bytes don't turn our close
/// into a reset (the CLI would then report "connection reset by peer" instead of the exit code).
const DRAIN: Duration = Duration::from_secs(2);

/// Content types of hijacked streams.
pub fn stream_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// Takes the upgrade handle of a request that asked for one.
pub fn take_upgrade(req: &mut Request) -> Option<OnUpgrade> {
    let wants = req.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    if wants {
        req.extensions_mut().remove::<OnUpgrade>()
    } else {
        None
    }
}

/// The `101 UPGRADED` answer.
pub fn switching(tty: bool) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(stream_type(tty)));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    r
}

/// Parses detach keys (`ctrl-p,ctrl-q`, `a,ctrl-@`).
pub fn parse_detach_keys(spec: &str) -> Vec<u8> {
    let spec = if spec.is_empty() { "ctrl-p,ctrl-q" } else { spec };
    spec.split(',')
        .filter_map(|k| {
            let k = k.trim();
            if let Some(c) = k.strip_prefix("ctrl-") {
                let b = c.bytes().next()?.to_ascii_lowercase();
                match b {
                    b'a'..=b'z' => Some(b - b'a' + 1),
                    b'@' => Some(0),
                    b'[' => Some(27),
                    b'\\' => Some(28),
                    b']' => Some(29),
                    b'^' => Some(30),
                    b'_' => Some(31),
                    _ => None,
                }
            } else if k.len() == 1 {
                k.bytes().next()
            } else {
                None
            }
        })
        .collect()
}

/// What ended the client's input.
enum InputEnd {
    Eof,
    Detached,
    Error,
}

/// How input ended, with the shim writer kept alive: dropping it would shut the shim
/// connection down for writing and end the session early.
type InputResult = (InputEnd, FrameWriter);

/// Client → shim: stdin frames (if enabled), detach key detection, EOF handling.
async fn pump_input<R: AsyncRead + Unpin>(mut rd: R, mut shim: FrameWriter, stdin: bool, close_on_eof: bool, keys: Vec<u8>) -> InputResult {
    let mut buf = vec![0u8; 32 * 1024];
    let mut matched = 0usize;
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) => {
                if stdin && close_on_eof {
                    let _ = shim.stdin_eof().await;
                }
                return (InputEnd::Eof, shim);
            }
            Ok(n) => n,
            Err(_) => return (InputEnd::Error, shim),
        };
        if !stdin {
            continue;
        }
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if !keys.is_empty() && b == keys[matched] {
                matched += 1;
                if matched == keys.len() {
                    return (InputEnd::Detached, shim);
                }
                continue;
            }
            if matched > 0 {
                out.extend_from_slice(&keys[..matched]);
                matched = 0;
            }
            out.push(b);
        }
        if !out.is_empty() && shim.stdin(&out).await.is_err() {
            return (InputEnd::Error, shim);
        }
    }
}

/// Shim → client: output (framed unless tty); returns the exit code if the shim reported one.
async fn pump_output<W: AsyncWrite + Unpin>(mut shim: FrameReader, wr: &mut W, tty: bool, on_exit: &mut (dyn FnMut(i64) + Send)) {
    while let Ok(Some((kind, data))) = shim.next().await {
        let bytes = match kind {
            FrameKind::Stdout if tty => data,
            FrameKind::Stdout => frame(StdStream::Stdout, &data),
            FrameKind::Stderr if tty => data,
            FrameKind::Stderr => frame(StdStream::Stderr, &data),
            FrameKind::Json => {
                if let Ok(Reply::Exited(s)) = serde_json::from_slice::<Reply>(&data) {
                    on_exit(s.exit_code as i64);
                }
                continue;
            }
            _ => continue,
        };
        if wr.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

/// Runs a hijacked session until output ends (or the client detaches), then closes cleanly.
/// Returns whether the client detached with its detach keys.
pub async fn session(
    upgrade: OnUpgrade,
    shim: (FrameReader, FrameWriter),
    tty: bool,
    stdin: bool,
    close_stdin_on_eof: bool,
    detach_keys: &str,
    mut on_exit: Box<dyn FnMut(i64) + Send>,
) -> bool {
    let Ok(upgraded) = upgrade.await else { return false };
    tracing::debug!("hijack session started");
    let io = TokioIo::new(upgraded);
    let (rd, mut wr) = tokio::io::split(io);
    let (reader, writer) = shim;
    let keys = parse_detach_keys(detach_keys);
    let input = tokio::spawn(pump_input(rd, writer, stdin, close_stdin_on_eof, keys));
    let abort = input.abort_handle();
    tokio::pin!(input);
    let mut input_done = false;
    let mut detached = false;
    let mut _writer_kept = None;
    {
        let output = pump_output(reader, &mut wr, tty, &mut *on_exit);
        tokio::pin!(output);
        loop {
            tokio::select! {
                _ = &mut output => {
                    tracing::debug!("hijack session: output ended");
                    break;
                }
                r = &mut input, if !input_done => {
                    input_done = true;
                    tracing::debug!("hijack session: input ended");
                    if let Ok((end, writer)) = r {
                        _writer_kept = Some(writer);
                        detached = matches!(end, InputEnd::Detached);
                        // An input error (stdin refused by a shim whose process just finished)
                        // must not cut off the output still on its way: the last output and
                        // the exit code. Output ends by itself when the shim closes.
                        if detached {
                            break;
                        }
                    }
                }
            }
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
    tracing::debug!("hijack session: output closed");
    if !input_done {
        // Keep reading what the client still sends, up to a point, before the socket drops.
        let _ = tokio::time::timeout(DRAIN, &mut input).await;
    }
    abort.abort();
    detached
}

/// Writes an error message into a hijacked stream (as stdout, like Docker) and closes it.
pub async fn report_error(upgrade: OnUpgrade, tty: bool, message: &str) {
    let Ok(upgraded) = upgrade.await else { return };
    let mut io = TokioIo::new(upgraded);
    let text = format!("{message}\r\n");
    let bytes = if tty { text.into_bytes() } else { frame(StdStream::Stdout, text.as_bytes()) };
    let _ = io.write_all(&bytes).await;
    let _ = io.shutdown().await;
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(DRAIN, async { while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {} }).await;
}
