//! `HEALTHCHECK NONE` and `HEALTHCHECK [--interval=..] [--timeout=..]
//! [--start-period=..] [--start-interval=..] [--retries=..] CMD command`.

use serde::{Deserialize, Serialize};

use super::{CommandForm, RawInstruction, Source};
use crate::duration::parse_duration;
use crate::error::ErrorKind;
use crate::flags::{Flags, Kind};

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// What the instruction sets.
    pub check: HealthcheckSpec,
}

/// Either disable health checking or configure a check command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum HealthcheckSpec {
    /// `HEALTHCHECK NONE`: disable any check inherited from the base image.
    None,
    /// `HEALTHCHECK ... CMD ...`.
    Cmd(HealthcheckCmd),
}

/// A configured health check. Durations are nanoseconds; zero means
/// "not set" (the runtime default applies), as in the image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthcheckCmd {
    /// The probe command.
    pub command: CommandForm,
    /// `--interval`.
    pub interval_ns: u64,
    /// `--timeout`.
    pub timeout_ns: u64,
    /// `--start-period`.
    pub start_period_ns: u64,
    /// `--start-interval`.
    pub start_interval_ns: u64,
    /// `--retries`; zero means "not set".
    pub retries: u32,
}

impl HealthcheckSpec {
    /// The image config `Healthcheck.Test` value: `["NONE"]`,
    /// `["CMD", args...]` or `["CMD-SHELL", line]`.
    pub fn test(&self) -> Vec<String> {
        match self {
            HealthcheckSpec::None => vec!["NONE".to_string()],
            HealthcheckSpec::Cmd(cmd) => match &cmd.command {
                CommandForm::Exec(args) => std::iter::once("CMD".to_string()).chain(args.iter().cloned()).collect(),
                CommandForm::Shell(line) => vec!["CMD-SHELL".to_string(), line.clone()],
            },
        }
    }
}

const FLAGS: &[(&str, Kind)] =
    &[("interval", Kind::Single), ("timeout", Kind::Single), ("start-period", Kind::Single), ("start-interval", Kind::Single), ("retries", Kind::Single)];

pub(super) fn parse(raw: RawInstruction) -> Result<Healthcheck, ErrorKind> {
    let rest = raw.rest.as_str();
    let split = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (kind, args) = rest.split_at_checked(split).unwrap_or((rest, ""));
    let args = args.trim_start();
    if kind.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument);
    }
    let kind = kind.to_uppercase();
    if kind == "NONE" {
        // Docker ignores flags on `HEALTHCHECK NONE`; so do we.
        if !args.is_empty() {
            return Err(ErrorKind::HealthcheckNoneArgs);
        }
        return Ok(Healthcheck { source: raw.source, check: HealthcheckSpec::None });
    }
    let flags = Flags::parse(&raw.flags, FLAGS)?;
    if kind != "CMD" {
        return Err(ErrorKind::HealthcheckUnknownType { kind });
    }
    let command = CommandForm::parse(args)?;
    if matches!(&command, CommandForm::Exec(a) if a.is_empty()) || matches!(&command, CommandForm::Shell(s) if s.is_empty()) {
        return Err(ErrorKind::HealthcheckMissingCommand);
    }
    let check = HealthcheckCmd {
        command,
        interval_ns: interval(&flags, "interval")?,
        timeout_ns: interval(&flags, "timeout")?,
        start_period_ns: interval(&flags, "start-period")?,
        start_interval_ns: interval(&flags, "start-interval")?,
        retries: retries(&flags)?,
    };
    Ok(Healthcheck { source: raw.source, check: HealthcheckSpec::Cmd(check) })
}

/// A duration flag: unset or zero is 0; otherwise at least 1ms.
fn interval(flags: &Flags, name: &str) -> Result<u64, ErrorKind> {
    let Some(value) = flags.single(name).filter(|v| !v.is_empty()) else {
        return Ok(0);
    };
    let flag = format!("--{name}");
    let Some(nanos) = parse_duration(&value) else {
        return Err(ErrorKind::InvalidDuration { flag, value });
    };
    if nanos == 0 {
        return Ok(0);
    }
    u64::try_from(nanos).ok().filter(|n| *n >= 1_000_000).ok_or(ErrorKind::DurationTooShort { flag })
}

fn retries(flags: &Flags) -> Result<u32, ErrorKind> {
    match flags.single("retries").filter(|v| !v.is_empty()) {
        None => Ok(0),
        Some(value) => value.parse::<i32>().ok().and_then(|n| u32::try_from(n).ok()).ok_or(ErrorKind::InvalidRetries { value }),
    }
}
