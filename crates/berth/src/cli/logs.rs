//! `logs`: inspect for the tty flag, then stream `GET /containers/{id}/logs` raw or demuxed.

use std::io::Write;

use berth_api::client::query;
use berth_api::stdcopy::Demux;
use clap::Args;

use super::error::{CliError, Result};
use super::progress::next_chunk;
use super::{container, format, opts, Ctx};

/// `berth logs`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth logs [OPTIONS] CONTAINER")]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long = "details")]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "since", value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long = "tail", value_name = "string", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "until", value_name = "string")]
    pub until: Option<String>,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

fn timestamp(v: &Option<String>) -> Result<String> {
    match v {
        Some(v) => opts::get_timestamp(v, format::now_unix()).map_err(CliError::Msg),
        None => Ok(String::new()),
    }
}

/// `berth logs`.
pub async fn run(ctx: &Ctx, a: LogsArgs) -> Result<i32> {
    let c = container::inspect_container(ctx, &a.container).await?;
    let b = |on: bool| if on { "1".to_string() } else { String::new() };
    let q = query(&[
        ("stdout", "1".into()),
        ("stderr", "1".into()),
        ("since", timestamp(&a.since)?),
        ("until", timestamp(&a.until)?),
        ("timestamps", b(a.timestamps)),
        ("follow", b(a.follow)),
        ("tail", a.tail.clone()),
        ("details", b(a.details)),
    ]);
    let resp = ctx.client.call(hyper::Method::GET, &format!("/containers/{}/logs{q}", a.container), berth_api::client::empty(), &[]).await?;
    let mut body = resp.into_body();
    let tty = c.config.tty;
    let copy = async {
        let mut demux = Demux::default();
        while let Some(chunk) = next_chunk(&mut body).await? {
            if tty {
                write_out(1, &chunk)?;
                continue;
            }
            for (stream, data) in demux.push(&chunk) {
                write_out(stream, &data)?;
            }
        }
        Ok::<_, CliError>(())
    };
    tokio::select! {
        r = copy => r.map(|_| 0),
        _ = tokio::signal::ctrl_c() => Ok(130),
    }
}

/// Writes a chunk to stdout (stream 1) or stderr (2, 3).
pub fn write_out(stream: u8, data: &[u8]) -> Result<()> {
    if stream == 2 || stream == 3 {
        let mut e = std::io::stderr().lock();
        e.write_all(data)?;
        e.flush()?;
    } else {
        let mut o = std::io::stdout().lock();
        o.write_all(data)?;
        o.flush()?;
    }
    Ok(())
}
