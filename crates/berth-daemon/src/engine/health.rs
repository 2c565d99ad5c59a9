//! Health checks: what a `HEALTHCHECK` (image) or `--health-*` (run) configuration means, how
//! it is validated, and how probe results move `State.Health` between `starting`, `healthy`
//! and `unhealthy` — all as Docker does (moby `daemon/health.go`). The probes themselves run
//! in [`super::health_monitor`].
//!
//! On top of Docker: `--health-on-failure=none|restart|kill|stop` (Podman's name) says what
//! the engine does when a container turns unhealthy. The API carries it as
//! `HostConfig.HealthOnFailure`; clients that cannot send that (the docker CLI) use the label
//! `berth.health-on-failure`.

use std::time::Duration;

use berth_api::types::{ContainerConfig, Health, HealthConfig, HealthLog};

use super::record::ContainerRecord;
use crate::error::EngineError;

/// Results kept in `State.Health.Log` (moby's `maxLogEntries`).
pub const MAX_LOG_ENTRIES: usize = 5;
/// Bytes of probe output kept per result (moby's `maxOutputLen`).
pub const MAX_OUTPUT: usize = 4096;
/// The label that sets `--health-on-failure` for clients without the flag.
pub const ON_FAILURE_LABEL: &str = "berth.health-on-failure";
/// The `HostConfig` member berth's CLI sends for `--health-on-failure`.
pub const ON_FAILURE_FIELD: &str = "HealthOnFailure";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Shortest interval, timeout, start period or start interval (moby's `MinimumDuration`).
const MIN_DURATION_NS: i64 = 1_000_000;

/// `starting`.
pub const STARTING: &str = "starting";
/// `healthy`.
pub const HEALTHY: &str = "healthy";
/// `unhealthy`.
pub const UNHEALTHY: &str = "unhealthy";

/// A container's health check, with Docker's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSpec {
    /// The command to exec in the container.
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: i64,
}

fn or_default(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

impl HealthSpec {
    /// The check of `config`, or `None` when it has none (no config, empty test, `NONE`).
    pub fn of(config: &ContainerConfig) -> Option<HealthSpec> {
        let hc = config.healthcheck.as_ref()?;
        let test = hc.test.as_ref()?;
        let argv = match test.first().map(String::as_str) {
            Some("CMD") if test.len() > 1 => test[1..].to_vec(),
            Some("CMD-SHELL") if test.len() > 1 => {
                let mut shell = config.shell.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                shell.push(test[1..].join(" "));
                shell
            }
            _ => return None,
        };
        Some(HealthSpec {
            argv,
            interval: or_default(hc.interval, DEFAULT_INTERVAL),
            timeout: or_default(hc.timeout, DEFAULT_TIMEOUT),
            start_period: or_default(hc.start_period, Duration::ZERO),
            start_interval: or_default(hc.start_interval, DEFAULT_START_INTERVAL),
            retries: if hc.retries > 0 { hc.retries } else { DEFAULT_RETRIES },
        })
    }

    /// How long to wait before the next probe: the start interval while a container that has
    /// not been healthy yet is within its start period, the interval otherwise.
    pub fn next_wait(&self, status: &str, since_start: Duration) -> Duration {
        if status == STARTING && !self.start_period.is_zero() && since_start < self.start_period {
            self.start_interval
        } else {
            self.interval
        }
    }
}

/// Checks a health config the way Docker's create does, plus what Docker only discovers when
/// probing (an unknown test form, a test without a command); errors name the field.
pub fn validate(hc: Option<&HealthConfig>) -> Result<(), EngineError> {
    let Some(hc) = hc else { return Ok(()) };
    let invalid = |m: String| Err(EngineError::Invalid(m));
    for (name, ns) in [("Interval", hc.interval), ("Timeout", hc.timeout), ("StartPeriod", hc.start_period), ("StartInterval", hc.start_interval)] {
        if ns != 0 && ns < MIN_DURATION_NS {
            return invalid(format!("Healthcheck.{name}: {name} in Healthcheck cannot be less than 1ms (got {ns}ns)"));
        }
    }
    if hc.retries < 0 {
        return invalid("Healthcheck.Retries: Retries in Healthcheck cannot be negative".into());
    }
    let Some(test) = hc.test.as_ref().filter(|t| !t.is_empty()) else { return Ok(()) };
    match test[0].as_str() {
        "NONE" => Ok(()),
        "CMD" | "CMD-SHELL" if test.len() < 2 || test[1..].iter().all(String::is_empty) => invalid(format!("Healthcheck.Test: {} needs a command", test[0])),
        "CMD" | "CMD-SHELL" => Ok(()),
        other => invalid(format!("Healthcheck.Test: unknown health check form {other:?} (expected NONE, CMD or CMD-SHELL)")),
    }
}

/// Merges a create request's health config with the image's `Healthcheck`, as Docker does:
/// no request config takes the image's; a request config without a test takes the image's test
/// and, for every zero field, the image's value.
pub fn merge(user: Option<HealthConfig>, image: Option<&serde_json::Value>) -> Option<HealthConfig> {
    let image: Option<HealthConfig> = image.and_then(|v| serde_json::from_value(v.clone()).ok());
    match (user, image) {
        (None, image) => image,
        (Some(u), None) => Some(u),
        (Some(mut u), Some(i)) => {
            if u.test.as_ref().is_none_or(|t| t.is_empty()) {
                u.test = i.test;
            }
            for (mine, theirs) in [
                (&mut u.interval, i.interval),
                (&mut u.timeout, i.timeout),
                (&mut u.start_period, i.start_period),
                (&mut u.start_interval, i.start_interval),
                (&mut u.retries, i.retries),
            ] {
                if *mine == 0 {
                    *mine = theirs;
                }
            }
            Some(u)
        }
    }
}

/// A fresh `State.Health` for a (re)started container: `starting`, no failures, the log kept.
pub fn restarted(previous: Option<&Health>) -> Health {
    Health { status: STARTING.into(), failing_streak: 0, log: previous.map(|h| h.log.clone()).unwrap_or_default() }
}

/// Applies one probe result (moby's `handleProbeResult`); returns the new status if it changed.
/// A failure during the start period does not count while the container has never been
/// healthy.
pub fn apply(health: &mut Health, result: HealthLog, spec: &HealthSpec, in_start_period: bool) -> Option<String> {
    let before = health.status.clone();
    if result.exit_code == 0 {
        health.failing_streak = 0;
        health.status = HEALTHY.into();
    } else if !(health.status == STARTING && in_start_period) {
        health.failing_streak += 1;
        if health.failing_streak >= spec.retries {
            health.status = UNHEALTHY.into();
        }
    }
    health.log.push(result);
    if health.log.len() > MAX_LOG_ENTRIES {
        let extra = health.log.len() - MAX_LOG_ENTRIES;
        health.log.drain(..extra);
    }
    (health.status != before).then(|| health.status.clone())
}

/// The `(health: starting)` / `(healthy)` / `(unhealthy)` part of `docker ps`'s status.
pub fn status_suffix(rec: &ContainerRecord) -> Option<String> {
    let h = rec.health.as_ref()?;
    HealthSpec::of(&rec.config)?;
    Some(if h.status == STARTING { "health: starting".into() } else { h.status.clone() })
}

/// The value the `health=` filter of `docker ps` compares: the status, or `none`.
pub fn filter_value(rec: &ContainerRecord) -> &str {
    match (&rec.health, HealthSpec::of(&rec.config)) {
        (Some(h), Some(_)) => h.status.as_str(),
        _ => "none",
    }
}

/// Checks the values of the `health=` filter (moby refuses others).
pub fn check_filter(values: &[String]) -> Result<(), EngineError> {
    for v in values {
        if ![STARTING, HEALTHY, UNHEALTHY, "none"].contains(&v.as_str()) {
            return Err(EngineError::Invalid(format!("Unrecognised filter value for health: {v}")));
        }
    }
    Ok(())
}

/// What the engine does when a container turns unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    None,
    Restart,
    Kill,
    Stop,
}

impl OnFailure {
    fn parse(v: &str, field: &str) -> Result<OnFailure, EngineError> {
        match v {
            "" | "none" => Ok(OnFailure::None),
            "restart" => Ok(OnFailure::Restart),
            "kill" => Ok(OnFailure::Kill),
            "stop" => Ok(OnFailure::Stop),
            other => Err(EngineError::Invalid(format!("{field}: invalid health-on-failure action {other:?} (expected none, restart, kill or stop)"))),
        }
    }

    /// The action configured for `rec` (the HostConfig member wins over the label).
    pub fn of(config: &ContainerConfig, host: &berth_api::types::HostConfig) -> Result<OnFailure, EngineError> {
        if let Some(v) = host.extra.get(ON_FAILURE_FIELD) {
            let s = v.as_str().ok_or_else(|| EngineError::Invalid(format!("HostConfig.{ON_FAILURE_FIELD}: expected a string")))?;
            return OnFailure::parse(s, &format!("HostConfig.{ON_FAILURE_FIELD}"));
        }
        match config.labels.get(ON_FAILURE_LABEL) {
            Some(v) => OnFailure::parse(v, &format!("label {ON_FAILURE_LABEL}")),
            None => Ok(OnFailure::None),
        }
    }
}

/// A Go `time.Duration` string (`200ms`, `1.5s`, `1m30s`), for Docker's timeout message.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let ms = ns as f64 / 1e6;
        return format!("{}ms", trim_float(ms));
    }
    let total = d.as_secs_f64();
    let (h, rem) = ((total / 3600.0).floor(), total % 3600.0);
    let (m, s) = ((rem / 60.0).floor(), rem % 60.0);
    let mut out = String::new();
    if h > 0.0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0.0 || m > 0.0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_float(s)));
    out
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests;
