//! `run` and `create`: create (pulling a missing image), then for `run` attach before
//! start, register the wait, start, pump the streams and exit with the container's code.

use std::io::IsTerminal;

use berth_api::client::query;
use berth_api::types::{CreateResponse, WaitResponse};
use clap::Args;

use super::create_flags::{ContainerFlags, CreateSpec, Env, PullPolicy};
use super::error::{CliError, Result};
use super::hijack::{self, Ended, Session};
use super::{registry, Ctx};

/// `berth run`.
#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true, override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]")]
pub struct RunArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", value_name = "bool", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// The image, then the command and its arguments. One positional so that option parsing
    /// stops at the image, as docker's does (`run IMG sh -c x` passes `-c` to the command).
    #[arg(value_name = "IMAGE [COMMAND] [ARG...]", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub image_and_command: Vec<String>,
}

/// `berth create`.
#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true, override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]")]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
    /// The image, then the command and its arguments. One positional so that option parsing
    /// stops at the image, as docker's does (`run IMG sh -c x` passes `-c` to the command).
    #[arg(value_name = "IMAGE [COMMAND] [ARG...]", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub image_and_command: Vec<String>,
}

/// docker's `withHelp`: the message run/create print for failures (exit 125 by default).
pub fn with_help(verb: &str, e: &CliError, code: i32) -> CliError {
    CliError::Code { msg: format!("berth: {e}\n\nRun 'berth {verb} --help' for more information"), code }
}

/// docker's `toStatusError` for start failures: 127 not found, 126 not executable, else 125.
pub fn start_error(verb: &str, e: &CliError) -> CliError {
    let m = e.to_string();
    let code = if m.contains("executable file not found") || m.contains("no such file or directory") {
        127
    } else if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else {
        125
    };
    with_help(verb, e, code)
}

fn lookup_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

fn env() -> Env<'static> {
    Env { lookup: &lookup_env, console: if std::io::stdout().is_terminal() { hijack::terminal_size() } else { None } }
}

/// Creates the container, pulling the image on "No such image" unless `--pull never`.
pub async fn create_container(ctx: &Ctx, spec: &CreateSpec, quiet: bool) -> Result<String> {
    let image = &spec.body.config.image;
    if spec.pull == PullPolicy::Always {
        registry::pull_for_run(ctx, image, spec.platform.as_deref(), quiet).await?;
    }
    let path =
        format!("/containers/create{}", query(&[("name", spec.name.clone().unwrap_or_default()), ("platform", spec.platform.clone().unwrap_or_default())]));
    let created: CreateResponse = match ctx.post(&path, Some(&spec.body)).await {
        Ok(c) => c,
        Err(e) if e.is_not_found() && e.to_string().contains("No such image") && spec.pull == PullPolicy::Missing => {
            eprintln!("Unable to find image '{}' locally", registry::familiar_tagged(image));
            registry::pull_for_run(ctx, image, spec.platform.as_deref(), quiet).await?;
            ctx.post(&path, Some(&spec.body)).await?
        }
        Err(e) => return Err(e),
    };
    for w in &created.warnings {
        eprintln!("WARNING: {w}");
    }
    if let Some(file) = &spec.cidfile {
        std::fs::write(file, &created.id).map_err(|e| CliError::msg(format!("failed to write the container ID to the file: {e}")))?;
    }
    Ok(created.id)
}

/// `berth create`: prints the new id.
pub async fn create(ctx: &Ctx, args: CreateArgs) -> Result<i32> {
    let spec =
        args.flags.to_spec(&args.image_and_command[0], &args.image_and_command[1..], false, &env()).map_err(|m| with_help("create", &CliError::Msg(m), 125))?;
    if let Some(file) = &spec.cidfile {
        if std::path::Path::new(file).exists() {
            return Err(with_help(
                "create",
                &CliError::msg(format!("container ID file found, make sure the other container isn't running or delete {file}")),
                125,
            ));
        }
    }
    let id = create_container(ctx, &spec, args.flags.quiet).await.map_err(|e| with_help("create", &e, 125))?;
    println!("{id}");
    Ok(0)
}

/// What an attached start needs to know.
pub struct Attached {
    /// Container id.
    pub id: String,
    /// Streams to attach: stdin, stdout, stderr.
    pub streams: (bool, bool, bool),
    /// The container has a tty.
    pub tty: bool,
    /// Wait for removal instead of exit (`--rm`).
    pub auto_remove: bool,
    /// Forward our signals (non-tty only).
    pub sig_proxy: bool,
    /// `--detach-keys`.
    pub detach_keys: Option<String>,
    /// The verb, for error messages.
    pub verb: &'static str,
}

/// Attach, register the wait, start, pump, and return the container's exit code.
pub async fn attach_start_wait(ctx: &Ctx, a: &Attached) -> Result<i32> {
    let keys = hijack::parse_detach_keys(a.detach_keys.as_deref().unwrap_or(hijack::DEFAULT_DETACH_KEYS)).map_err(CliError::Msg)?;
    let (stdin, stdout, stderr) = a.streams;
    let b = |on: bool| if on { "1".to_string() } else { String::new() };
    let attach_path = format!(
        "/containers/{}/attach{}",
        a.id,
        query(&[
            ("stream", "1".into()),
            ("stdin", b(stdin)),
            ("stdout", b(stdout)),
            ("stderr", b(stderr)),
            ("detachKeys", a.detach_keys.clone().unwrap_or_default())
        ])
    );
    let conn = if stdin || stdout || stderr { Some(ctx.client.upgrade(&attach_path, berth_api::client::empty(), "text/plain").await?) } else { None };
    let condition = if a.auto_remove { "removed" } else { "next-exit" };
    let wait = ctx.client.call(hyper::Method::POST, &format!("/containers/{}/wait?condition={condition}", a.id), berth_api::client::empty(), &[]).await?;
    let raw = (a.tty && stdin).then(hijack::RawTerminal::enter).flatten();
    if let Err(e) = ctx.client.post_status(&format!("/containers/{}/start", a.id), None::<&()>).await {
        drop(raw);
        let e = CliError::from(e);
        return Err(if a.verb == "run" { start_error(a.verb, &e) } else { e });
    }
    let resizer = (a.tty && std::io::stdout().is_terminal()).then(|| hijack::spawn_resizer(ctx.client.clone(), format!("/containers/{}", a.id)));
    let proxy = (!a.tty && a.sig_proxy).then(|| hijack::spawn_signal_proxy(ctx.client.clone(), a.id.clone()));
    let session = Session { tty: a.tty, stdin, detach_keys: Some(keys) };
    let ended = match conn {
        Some(conn) => hijack::pump(conn, &session).await,
        None => Ok(Ended::Eof),
    };
    drop(raw);
    for task in [resizer, proxy].into_iter().flatten() {
        task.abort();
    }
    match ended {
        Ok(Ended::Detached) => {
            eprintln!("read escape sequence");
            return Ok(0);
        }
        Ok(Ended::Eof) => {}
        Err(e) => return Err(CliError::msg(format!("error attaching to container: {e}"))),
    }
    let result: WaitResponse = berth_api::client::decode(wait).await?;
    if let Some(err) = result.error {
        return Err(CliError::Code { msg: format!("Error waiting for container: {}", err.message), code: 125 });
    }
    Ok(result.status_code as i32)
}

/// `berth run`.
pub async fn run(ctx: &Ctx, args: RunArgs) -> Result<i32> {
    let f = &args.flags;
    if args.detach && !f.attach.is_empty() {
        return Err(CliError::Code { msg: "conflicting options: cannot specify both --attach and --detach".into(), code: 1 });
    }
    let spec =
        f.to_spec(&args.image_and_command[0], &args.image_and_command[1..], args.detach, &env()).map_err(|m| with_help("run", &CliError::Msg(m), 125))?;
    let c = &spec.body.config;
    if c.tty && c.attach_stdin && !std::io::stdin().is_terminal() {
        return Err(CliError::Code { msg: "the input device is not a TTY".into(), code: 1 });
    }
    let id = create_container(ctx, &spec, f.quiet).await.map_err(|e| with_help("run", &e, 125))?;
    if args.detach {
        let started = ctx.client.post_status(&format!("/containers/{id}/start"), None::<&()>).await;
        started.map_err(|e| start_error("run", &e.into()))?;
        println!("{id}");
        return Ok(0);
    }
    let attached = Attached {
        id,
        streams: (c.attach_stdin, c.attach_stdout, c.attach_stderr),
        tty: c.tty,
        auto_remove: f.rm,
        sig_proxy: args.sig_proxy,
        detach_keys: f.detach_keys.clone(),
        verb: "run",
    };
    attach_start_wait(ctx, &attached).await.map_err(|e| match e {
        CliError::Client(_) => with_help("run", &e, 125),
        other => other,
    })
}
