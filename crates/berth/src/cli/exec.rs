//! `exec`: existence check, `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked
//! unless detached), resize, then the exit code from `GET /exec/{id}/json`.

use std::io::IsTerminal;

use berth_api::types::{ExecCreateRequest, ExecInspect, ExecStartRequest, IdResponse};
use clap::Args;

use super::error::{CliError, Result};
use super::hijack::{self, Ended, Session};
use super::{container, opts, Ctx};

/// `berth exec`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long = "user", value_name = "string", default_value = "")]
    pub user: String,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string", default_value = "")]
    pub workdir: String,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The command and its arguments
    #[arg(value_name = "COMMAND", required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

fn lookup_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Builds the exec create body like docker CLI 28.
pub fn exec_request(a: &ExecArgs, console: Option<(u16, u16)>) -> std::result::Result<ExecCreateRequest, String> {
    let env = opts::read_env(&a.env_file, &a.env, &lookup_env)?;
    Ok(ExecCreateRequest {
        attach_stdin: a.interactive && !a.detach,
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        console_size: Some(match (a.tty, console) {
            (true, Some((h, w))) => vec![h as u32, w as u32],
            _ => vec![0, 0],
        }),
        detach_keys: a.detach_keys.clone().unwrap_or_default(),
        tty: a.tty,
        env,
        cmd: Some(a.command.clone()),
        privileged: a.privileged,
        user: a.user.clone(),
        working_dir: a.workdir.clone(),
    })
}

/// `berth exec`.
pub async fn run(ctx: &Ctx, a: ExecArgs) -> Result<i32> {
    let keys = hijack::parse_detach_keys(a.detach_keys.as_deref().unwrap_or(hijack::DEFAULT_DETACH_KEYS)).map_err(CliError::Msg)?;
    let console = if std::io::stdout().is_terminal() { hijack::terminal_size() } else { None };
    let body = exec_request(&a, console).map_err(CliError::Msg)?;
    if a.tty && body.attach_stdin && !std::io::stdin().is_terminal() {
        return Err(CliError::msg("the input device is not a TTY"));
    }
    container::inspect_container(ctx, &a.container).await?;
    let created: IdResponse = ctx.post(&format!("/containers/{}/exec", a.container), Some(&body)).await?;
    let console_size = if a.detach { None } else { body.console_size.clone() };
    let start = ExecStartRequest { detach: a.detach, tty: a.tty, console_size };
    let start_path = format!("/exec/{}/start", created.id);
    if a.detach {
        ctx.client.post_status(&start_path, Some(&start)).await?;
        return Ok(0);
    }
    let json = serde_json::to_vec(&start)?;
    let conn = ctx.client.upgrade(&start_path, berth_api::client::full(json), "application/json").await?;
    let raw = (a.tty && body.attach_stdin).then(hijack::RawTerminal::enter).flatten();
    let resizer = (a.tty && std::io::stdout().is_terminal()).then(|| hijack::spawn_resizer(ctx.client.clone(), format!("/exec/{}", created.id)));
    let ended = hijack::pump(conn, &Session { tty: a.tty, stdin: body.attach_stdin, detach_keys: Some(keys) }).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    if ended.map_err(|e| CliError::msg(format!("error attaching to exec: {e}")))? == Ended::Detached {
        eprintln!("read escape sequence");
        return Ok(0);
    }
    let inspect: ExecInspect = ctx.get(&format!("/exec/{}/json", created.id)).await?;
    Ok(inspect.exit_code.unwrap_or(0) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ExecArgs,
    }

    #[test]
    fn body_like_docker() {
        let t = T::try_parse_from(["exec", "-it", "-e", "A=1", "-w", "/tmp", "-u", "1", "c1", "sh", "-c", "echo hi"]);
        let t = t.map_err(|e| e.to_string());
        let body = t.and_then(|t| exec_request(&t.a, Some((24, 80)))).unwrap_or_default();
        let v = serde_json::to_value(&body).unwrap_or_default();
        assert_eq!(v["AttachStdin"], true);
        assert_eq!(v["AttachStdout"], true);
        assert_eq!(v["Tty"], true);
        assert_eq!(v["ConsoleSize"], serde_json::json!([24, 80]));
        assert_eq!(v["Cmd"], serde_json::json!(["sh", "-c", "echo hi"]));
        assert_eq!(v["Env"], serde_json::json!(["A=1"]));
        assert_eq!(v["WorkingDir"], "/tmp");
        assert_eq!(v["User"], "1");
    }
}
