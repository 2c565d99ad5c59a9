//! `berth shim --id ID --dir DIR [--log FILE] [--log-max-size BYTES] [--log-max-files N]
//! [--service-log FILE] [--log-attr K=V]... [--stdin] [--tty]`: parsed by hand, with no
//! dependency that could start a thread.

use std::path::PathBuf;

use berth_runtime::shim::{self, LogSettings, ShimArgs};

/// Runs the shim; returns the process exit code.
pub fn main(argv: &[String]) -> i32 {
    if let Err(e) = berth_runtime::seal::ensure_sealed() {
        eprintln!("berth shim: {e}");
        return 1;
    }
    let args = match parse(argv) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("berth shim: {e}");
            return 2;
        }
    };
    let level = std::env::var("BERTH_SHIM_LOG").unwrap_or_else(|_| "error".into());
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(level)).with_writer(std::io::stderr).with_ansi(false).try_init();
    shim::run(args)
}

fn parse(argv: &[String]) -> Result<ShimArgs, String> {
    let mut id = None;
    let mut dir = None;
    let mut log = None;
    let (mut stdin, mut tty) = (false, false);
    let mut log_settings = LogSettings::default();
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--id" => id = Some(value("--id")?),
            "--dir" => dir = Some(PathBuf::from(value("--dir")?)),
            "--log" => log = Some(PathBuf::from(value("--log")?)),
            "--log-max-size" => {
                let v = value("--log-max-size")?;
                log_settings.rotation.max_size = Some(v.parse().map_err(|_| format!("bad --log-max-size {v:?}"))?);
            }
            "--log-max-files" => {
                let v = value("--log-max-files")?;
                log_settings.rotation.max_files = v.parse().map_err(|_| format!("bad --log-max-files {v:?}"))?;
            }
            "--service-log" => log_settings.service = Some(PathBuf::from(value("--service-log")?)),
            "--log-attr" => {
                let v = value("--log-attr")?;
                let (k, val) = v.split_once('=').ok_or(format!("bad --log-attr {v:?}"))?;
                log_settings.attrs.insert(k.to_string(), val.to_string());
            }
            "--stdin" => stdin = true,
            "--tty" => tty = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(ShimArgs { id: id.ok_or("--id is required")?, dir: dir.ok_or("--dir is required")?, log, log_settings, stdin, tty })
}
