//! The interactive plumbing shared by `run`, `start -a`, `attach` and `exec`: the pump
//! between a hijacked connection and our stdio, the raw terminal guard, terminal resizes,
//! detach keys and the signal proxy.

use std::io::{Read, Write};
use std::os::fd::AsFd;

use berth_api::client::Client;
use berth_api::stdcopy::Demux;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Docker's default detach sequence, ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The daemon closed the stream (the process is gone).
    Eof,
    /// The user typed the detach keys.
    Detached,
}

/// What a session pumps.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The stream is raw (a tty); otherwise it is multiplexed.
    pub tty: bool,
    /// Forward our stdin.
    pub stdin: bool,
    /// Detach sequence to watch for on stdin (only with a tty, like docker).
    pub detach_keys: Option<Vec<u8>>,
}

/// Parses docker's detach key syntax (`ctrl-p,ctrl-q`, `a,ctrl-@`).
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let invalid = || format!("Invalid detach keys ({spec}) provided");
    let mut out = Vec::new();
    for key in spec.split(',') {
        let key = key.trim();
        if let Some(c) = key.strip_prefix("ctrl-") {
            let mut chars = c.chars();
            let (Some(ch), None) = (chars.next(), chars.next()) else {
                return Err(invalid());
            };
            let b = match ch.to_ascii_lowercase() {
                c @ 'a'..='z' => c as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => return Err(invalid()),
            };
            out.push(b);
        } else if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else {
            return Err(invalid());
        }
    }
    Ok(out)
}

/// Watches stdin bytes for the detach sequence, holding back a partial match.
#[derive(Debug, Default)]
pub struct EscapeProxy {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeProxy {
    /// A proxy for `keys` (empty: never detaches).
    pub fn new(keys: Vec<u8>) -> Self {
        Self { keys, matched: 0 }
    }

    /// Returns the bytes to forward and whether the full sequence was typed.
    pub fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (data.to_vec(), false);
        }
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = usize::from(b == self.keys[0]);
            if self.matched == 0 {
                out.push(b);
            }
        }
        (out, false)
    }

    /// Bytes of a partial match still held back (sent when stdin ends).
    pub fn pending(&self) -> &[u8] {
        &self.keys[..self.matched]
    }
}

/// Puts stdin's terminal in raw mode and restores it when dropped.
pub struct RawTerminal {
    saved: rustix::termios::Termios,
}

impl RawTerminal {
    /// Enters raw mode if stdin is a terminal.
    pub fn enter() -> Option<Self> {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        if !rustix::termios::isatty(fd) {
            return None;
        }
        let saved = rustix::termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw).ok()?;
        Some(Self { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = rustix::termios::tcsetattr(stdin.as_fd(), rustix::termios::OptionalActions::Now, &self.saved);
    }
}

/// The size `(height, width)` of the terminal on stdout, if it is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    let stdout = std::io::stdout();
    let ws = rustix::termios::tcgetwinsize(stdout.as_fd()).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Sends the terminal size to `{prefix}/resize` (`/containers/ID` or `/exec/ID`).
pub async fn resize(client: &Client, prefix: &str) -> bool {
    let Some((h, w)) = terminal_size() else {
        return true;
    };
    client.post_status(&format!("{prefix}/resize?h={h}&w={w}"), None::<&()>).await.is_ok()
}

/// Resizes now (retrying briefly while the process starts) and on every SIGWINCH.
pub fn spawn_resizer(client: Client, prefix: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        for _ in 0..5 {
            if resize(&client, &prefix).await {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let Ok(mut winch) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()) else {
            return;
        };
        while winch.recv().await.is_some() {
            resize(&client, &prefix).await;
        }
    })
}

/// Forwards the signals docker proxies to the container with `POST /containers/{id}/kill`.
pub fn spawn_signal_proxy(client: Client, id: String) -> JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (tx, mut rx) = mpsc::unbounded_channel::<&'static str>();
        for (kind, name) in kinds {
            let Ok(mut s) = signal(kind) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            let _ = client.post_status(&format!("/containers/{id}/kill?signal={name}"), None::<&()>).await;
        }
    })
}

/// Reads stdin on a plain thread (it may block forever; it never holds the runtime).
fn stdin_channel() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    });
    rx
}

fn write_stream(stream: u8, data: &[u8]) -> std::io::Result<()> {
    if stream == 2 || stream == 3 {
        let mut err = std::io::stderr().lock();
        err.write_all(data)?;
        err.flush()
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        out.flush()
    }
}

/// Copies the connection's output to our stdout/stderr and our stdin to it until the
/// daemon closes the stream or the user detaches. Stdin EOF half-closes the connection.
pub async fn pump<S>(conn: S, session: &Session) -> std::io::Result<Ended>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(conn);
    let mut input = session.stdin.then(stdin_channel);
    let mut escape = EscapeProxy::new(if session.tty { session.detach_keys.clone().unwrap_or_default() } else { Vec::new() });
    let mut demux = Demux::default();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        tokio::select! {
            n = rd.read(&mut buf) => {
                let n = match n {
                    Ok(0) => return Ok(Ended::Eof),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(Ended::Eof),
                    Err(e) => return Err(e),
                };
                if session.tty {
                    write_stream(1, &buf[..n])?;
                } else {
                    for (stream, data) in demux.push(&buf[..n]) {
                        write_stream(stream, &data)?;
                    }
                }
            }
            chunk = recv(&mut input) => match chunk {
                Some(data) => {
                    let (forward, detach) = escape.feed(&data);
                    if !forward.is_empty() {
                        wr.write_all(&forward).await?;
                        wr.flush().await?;
                    }
                    if detach {
                        return Ok(Ended::Detached);
                    }
                }
                None => {
                    let rest = escape.pending().to_vec();
                    if !rest.is_empty() {
                        wr.write_all(&rest).await?;
                    }
                    let _ = wr.shutdown().await;
                    input = None;
                }
            },
        }
    }
}

async fn recv(input: &mut Option<mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match input {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_syntax() {
        assert_eq!(parse_detach_keys(DEFAULT_DETACH_KEYS), Ok(vec![16, 17]));
        assert_eq!(parse_detach_keys("a,ctrl-@,ctrl-["), Ok(vec![b'a', 0, 27]));
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }

    #[test]
    fn escape_proxy_holds_partial_matches() {
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.feed(b"ab"), (b"ab".to_vec(), false));
        assert_eq!(p.feed(&[16]), (vec![], false));
        assert_eq!(p.pending(), &[16]);
        assert_eq!(p.feed(b"x"), (vec![16, b'x'], false));
        assert_eq!(p.feed(&[16, 16]), (vec![16], false));
        assert_eq!(p.feed(&[17, b'z']), (vec![], true));
        let mut none = EscapeProxy::new(vec![]);
        assert_eq!(none.feed(&[16, 17]), (vec![16, 17], false));
    }

    #[tokio::test]
    async fn pump_demuxes_until_eof() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut data = berth_api::stdcopy::frame(berth_api::stdcopy::StdStream::Stdout, b"");
        data.clear();
        theirs.write_all(&data).await.unwrap_or_default();
        drop(theirs);
        let ended = pump(ours, &Session::default()).await;
        assert_eq!(ended.ok(), Some(Ended::Eof));
    }
}
