//! `attach`: hijack a running container's streams (wait registered first, like docker).

use std::io::IsTerminal;

use berth_api::client::{empty, query};
use berth_api::types::WaitResponse;
use clap::Args;
use hyper::Method;

use super::container::inspect_container;
use super::error::{CliError, Result};
use super::hijack::{self, Ended, Session};
use super::Ctx;

/// `berth attach`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth attach [OPTIONS] CONTAINER")]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", value_name = "bool", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `berth attach`.
pub async fn run(ctx: &Ctx, a: AttachArgs) -> Result<i32> {
    let c = inspect_container(ctx, &a.container).await?;
    if !c.state.running {
        return Err(CliError::msg("You cannot attach to a stopped container, start it first"));
    }
    if c.state.paused {
        return Err(CliError::msg("You cannot attach to a paused container, unpause it first"));
    }
    if c.state.restarting {
        return Err(CliError::msg("You cannot attach to a restarting container, wait until it is running"));
    }
    let keys = hijack::parse_detach_keys(a.detach_keys.as_deref().unwrap_or(hijack::DEFAULT_DETACH_KEYS)).map_err(CliError::Msg)?;
    let stdin = !a.no_stdin && c.config.open_stdin;
    let tty = c.config.tty;
    if tty && stdin && !std::io::stdin().is_terminal() {
        return Err(CliError::msg("the input device is not a TTY"));
    }
    let wait = ctx.client.call(Method::POST, &format!("/containers/{}/wait", c.id), empty(), &[]).await?;
    let path = format!(
        "/containers/{}/attach{}",
        c.id,
        query(&[
            ("stream", "1".into()),
            ("stdin", if stdin { "1".into() } else { String::new() }),
            ("stdout", "1".into()),
            ("stderr", "1".into()),
            ("detachKeys", a.detach_keys.clone().unwrap_or_default()),
        ])
    );
    let conn = ctx.client.upgrade(&path, empty(), "text/plain").await?;
    let raw = (tty && stdin).then(hijack::RawTerminal::enter).flatten();
    let resizer = (tty && std::io::stdout().is_terminal()).then(|| hijack::spawn_resizer(ctx.client.clone(), format!("/containers/{}", c.id)));
    let proxy = (!tty && a.sig_proxy).then(|| hijack::spawn_signal_proxy(ctx.client.clone(), c.id.clone()));
    let ended = hijack::pump(conn, &Session { tty, stdin, detach_keys: Some(keys) }).await;
    drop(raw);
    for task in [resizer, proxy].into_iter().flatten() {
        task.abort();
    }
    match ended.map_err(|e| CliError::msg(format!("error attaching to container: {e}")))? {
        Ended::Detached => {
            eprintln!("read escape sequence");
            Ok(0)
        }
        Ended::Eof => {
            let result: WaitResponse = berth_api::client::decode(wait).await?;
            match result.error {
                Some(e) => Err(CliError::msg(e.message)),
                None => Ok(result.status_code as i32),
            }
        }
    }
}
