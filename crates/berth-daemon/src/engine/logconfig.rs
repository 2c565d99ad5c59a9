//! Log drivers and their options: what `--log-driver`/`--log-opt` (per container and
//! daemon-wide) mean for the shim's log file.
//!
//! - `json-file` (the default) and `local` both write Docker's json-file lines; they differ in
//!   their defaults. Rotation is on unless disabled with `max-size=-1`: `json-file` keeps 5
//!   files of 10 MB, `local` 5 files of 20 MB. Compression is not supported.
//! - `none` writes nothing, and `logs` refuses to read.
//! - `service=NAME` (berth's own option, needs the daemon's `--log-service-root ROOT`) also
//!   appends every line, tagged with the container's id and name, to `ROOT/NAME/NAME.log`,
//!   shared by all containers of the service and rotated like the container's log. Without
//!   the option a container labelled `com.docker.compose.service=NAME` uses NAME when the
//!   daemon has a service root.
//!
//! Options are checked at create, so a typo is a 400 naming the option, not a start failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_api::types::LogConfig;
use berth_runtime::shim::rotate::Rotation;

use crate::config::DaemonConfig;
use crate::error::EngineError;

/// The compose label whose value names a container's service.
pub const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";

/// A log driver berth implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    JsonFile,
    Local,
    None,
}

impl Driver {
    /// Parses a driver name.
    pub fn parse(name: &str) -> Result<Driver, EngineError> {
        match name {
            "json-file" => Ok(Driver::JsonFile),
            "local" => Ok(Driver::Local),
            "none" => Ok(Driver::None),
            other => Err(EngineError::Invalid(format!("failed to create logger: logger: no log driver named '{other}' is registered"))),
        }
    }

    /// The options this driver accepts.
    fn known_opts(self) -> &'static [&'static str] {
        match self {
            Driver::JsonFile => &["max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag", "service"],
            Driver::Local => &["max-size", "max-file", "compress", "service"],
            Driver::None => &[],
        }
    }

    /// `(max-size, max-file)` when the options say nothing.
    fn default_rotation(self) -> Rotation {
        match self {
            Driver::JsonFile => Rotation { max_size: Some(10 * 1024 * 1024), max_files: 5 },
            Driver::Local => Rotation { max_size: Some(20 * 1024 * 1024), max_files: 5 },
            Driver::None => Rotation::default(),
        }
    }
}

/// How a container's output is logged, resolved from its config and the daemon's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPlan {
    pub driver: Driver,
    pub rotation: Rotation,
    /// The service whose shared log this container appends to.
    pub service: Option<String>,
}

/// `go-units.RAMInBytes`: `10m`, `1g`, `512k`, `100`, `1.5mb` (binary multiples, any case).
pub fn ram_in_bytes(s: &str) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim().trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    Some((value * mult) as i64)
}

fn bad(field: &str, value: &str, why: &str) -> EngineError {
    EngineError::Invalid(format!("invalid value for log opt {field}: {value:?}: {why}"))
}

/// Fills in the daemon's default driver and options, as Docker does at create: the type when
/// empty, and the daemon's options (for keys the container did not set) when the container
/// uses the daemon's driver. Then validates.
pub fn merge_defaults(cfg: &LogConfig, daemon: &DaemonConfig) -> Result<LogConfig, EngineError> {
    let default_driver = if daemon.log_driver.is_empty() { "json-file" } else { daemon.log_driver.as_str() };
    let mut out = cfg.clone();
    if out.typ.is_empty() {
        out.typ = default_driver.to_string();
    }
    if out.typ == default_driver {
        for (k, v) in &daemon.log_opts {
            out.config.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    validate(&out)?;
    Ok(out)
}

/// Checks a driver and its options; every error names the option at fault.
pub fn validate(cfg: &LogConfig) -> Result<(), EngineError> {
    let driver = Driver::parse(if cfg.typ.is_empty() { "json-file" } else { &cfg.typ })?;
    for key in cfg.config.keys() {
        if !driver.known_opts().contains(&key.as_str()) {
            return Err(EngineError::Invalid(format!("unknown log opt '{key}' for {} log driver", name(driver))));
        }
    }
    rotation(driver, &cfg.config)?;
    if let Some(v) = cfg.config.get("compress") {
        match v.as_str() {
            "false" | "0" | "" => {}
            "true" | "1" => return Err(bad("compress", v, "compressed log files are not supported by berth")),
            _ => return Err(bad("compress", v, "expected true or false")),
        }
    }
    if let Some(v) = cfg.config.get("service") {
        if !super::names::valid(v) {
            return Err(bad("service", v, "must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"));
        }
    }
    Ok(())
}

fn name(d: Driver) -> &'static str {
    match d {
        Driver::JsonFile => "json-file",
        Driver::Local => "local",
        Driver::None => "none",
    }
}

fn rotation(driver: Driver, opts: &BTreeMap<String, String>) -> Result<Rotation, EngineError> {
    let mut r = driver.default_rotation();
    if let Some(v) = opts.get("max-size") {
        let size = if v.trim() == "-1" { Some(-1) } else { ram_in_bytes(v) };
        let size = size.ok_or_else(|| bad("max-size", v, "expected a size such as 10m"))?;
        r.max_size = match size {
            -1 => None,
            s if s > 0 => Some(s as u64),
            _ => return Err(bad("max-size", v, "must be a positive size, or -1 for no limit")),
        };
    }
    if let Some(v) = opts.get("max-file") {
        let n: i64 = v.parse().map_err(|_| bad("max-file", v, "expected an integer"))?;
        if n < 1 {
            return Err(bad("max-file", v, "max-file cannot be less than 1"));
        }
        r.max_files = u32::try_from(n).map_err(|_| bad("max-file", v, "too large"))?;
    }
    if r.max_size.is_none() {
        r.max_files = 1;
    }
    Ok(r)
}

/// The plan for a container's log, from its (merged) config and labels.
pub fn plan(cfg: &LogConfig, labels: &BTreeMap<String, String>, daemon: &DaemonConfig) -> Result<LogPlan, EngineError> {
    let merged = merge_defaults(cfg, daemon)?;
    let driver = Driver::parse(&merged.typ)?;
    let rotation = rotation(driver, &merged.config)?;
    let service = match (merged.config.get("service"), &daemon.log_service_root) {
        (Some(_), None) => return Err(EngineError::Invalid("log opt 'service' needs a daemon started with --log-service-root".into())),
        (Some(s), Some(_)) => Some(s.clone()),
        (None, Some(_)) => labels.get(COMPOSE_SERVICE_LABEL).filter(|s| super::names::valid(s)).cloned(),
        (None, None) => None,
    };
    Ok(LogPlan { driver, rotation, service })
}

/// The shared log file of `service` under the daemon's service root.
pub fn service_log_path(root: &Path, service: &str) -> PathBuf {
    root.join(service).join(format!("{service}.log"))
}

impl super::Engine {
    /// The shim's log flags for `rec`: its json-file log (unless the driver is `none`), the
    /// rotation, and the service log (whose directory is created here).
    pub(crate) fn shim_log_args(
        &self,
        rec: &super::record::ContainerRecord,
        dirs: &super::record::ContainerDirs,
    ) -> Result<Vec<std::ffi::OsString>, EngineError> {
        let plan = plan(&rec.host_config.log_config, &rec.config.labels, &self.config)?;
        let mut args: Vec<std::ffi::OsString> = Vec::new();
        if plan.driver != Driver::None {
            args.push("--log".into());
            args.push(dirs.log(&rec.id).into());
        }
        if let Some(size) = plan.rotation.max_size {
            args.push("--log-max-size".into());
            args.push(size.to_string().into());
            args.push("--log-max-files".into());
            args.push(plan.rotation.max_files.to_string().into());
        }
        if let (Some(service), Some(root)) = (&plan.service, &self.config.log_service_root) {
            let path = service_log_path(root, service);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| EngineError::internal(&format!("create {}", dir.display()), e))?;
            }
            args.push("--service-log".into());
            args.push(path.into());
            args.push("--log-attr".into());
            args.push(format!("container_id={}", rec.id).into());
            args.push("--log-attr".into());
            args.push(format!("container_name={}", rec.name).into());
        }
        Ok(args)
    }

    /// Every log file of a container, oldest first (`-json.log.N` ... `-json.log`).
    pub fn log_files(&self, rec: &super::record::ContainerRecord) -> Vec<PathBuf> {
        let current = super::record::ContainerDirs::new(&self.config.data_root, &rec.id).log(&rec.id);
        let mut files: Vec<PathBuf> = Vec::new();
        let mut n = 1;
        loop {
            let p = berth_runtime::shim::rotate::rotated_path(&current, n);
            if !p.exists() {
                break;
            }
            files.push(p);
            n += 1;
        }
        files.reverse();
        files.push(current);
        files
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg(typ: &str, opts: &[(&str, &str)]) -> LogConfig {
        LogConfig { typ: typ.into(), config: opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    #[test]
    fn sizes_parse_like_go_units() {
        assert_eq!(ram_in_bytes("10m"), Some(10 * 1024 * 1024));
        assert_eq!(ram_in_bytes("1K"), Some(1024));
        assert_eq!(ram_in_bytes("1.5mb"), Some(1_572_864));
        assert_eq!(ram_in_bytes("2GiB"), Some(2 << 30));
        assert_eq!(ram_in_bytes("100"), Some(100));
        assert_eq!(ram_in_bytes("ten"), None);
        assert_eq!(ram_in_bytes("5x"), None);
    }

    #[test]
    fn rotation_is_on_by_default_and_overridable() {
        let d = DaemonConfig::default();
        let p = plan(&cfg("", &[]), &BTreeMap::new(), &d).unwrap();
        assert_eq!(p.driver, Driver::JsonFile);
        assert_eq!(p.rotation, Rotation { max_size: Some(10 << 20), max_files: 5 });
        let p = plan(&cfg("json-file", &[("max-size", "1m"), ("max-file", "3")]), &BTreeMap::new(), &d).unwrap();
        assert_eq!(p.rotation, Rotation { max_size: Some(1 << 20), max_files: 3 });
        let p = plan(&cfg("local", &[]), &BTreeMap::new(), &d).unwrap();
        assert_eq!(p.rotation.max_size, Some(20 << 20));
        let p = plan(&cfg("json-file", &[("max-size", "-1")]), &BTreeMap::new(), &d).unwrap();
        assert_eq!(p.rotation, Rotation { max_size: None, max_files: 1 });
    }

    #[test]
    fn daemon_defaults_apply_to_the_default_driver_only() {
        let mut d = DaemonConfig::default();
        d.log_opts.insert("max-size".into(), "2m".into());
        let merged = merge_defaults(&cfg("", &[]), &d).unwrap();
        assert_eq!(merged.typ, "json-file");
        assert_eq!(merged.config.get("max-size").map(String::as_str), Some("2m"));
        let merged = merge_defaults(&cfg("json-file", &[("max-size", "5m")]), &d).unwrap();
        assert_eq!(merged.config.get("max-size").map(String::as_str), Some("5m"));
        let merged = merge_defaults(&cfg("none", &[]), &d).unwrap();
        assert!(merged.config.is_empty());
    }

    #[test]
    fn errors_name_the_option() {
        let e = validate(&cfg("json-file", &[("max-sise", "1m")])).unwrap_err().to_string();
        assert_eq!(e, "unknown log opt 'max-sise' for json-file log driver");
        let e = validate(&cfg("json-file", &[("max-size", "lots")])).unwrap_err().to_string();
        assert!(e.contains("max-size"), "{e}");
        let e = validate(&cfg("local", &[("max-file", "0")])).unwrap_err().to_string();
        assert!(e.contains("max-file"), "{e}");
        let e = validate(&cfg("syslog", &[])).unwrap_err().to_string();
        assert!(e.contains("no log driver named 'syslog'"), "{e}");
        assert!(validate(&cfg("none", &[("max-size", "1m")])).is_err());
        assert!(validate(&cfg("json-file", &[("service", "../etc")])).is_err());
    }

    #[test]
    fn service_logs_need_a_root() {
        let mut d = DaemonConfig::default();
        let mut labels = BTreeMap::new();
        labels.insert(COMPOSE_SERVICE_LABEL.to_string(), "web".to_string());
        assert!(plan(&cfg("", &[("service", "api")]), &labels, &d).is_err());
        assert_eq!(plan(&cfg("", &[]), &labels, &d).unwrap().service, None);
        d.log_service_root = Some(PathBuf::from("/logs"));
        assert_eq!(plan(&cfg("", &[("service", "api")]), &labels, &d).unwrap().service.as_deref(), Some("api"));
        assert_eq!(plan(&cfg("", &[]), &labels, &d).unwrap().service.as_deref(), Some("web"));
        assert_eq!(service_log_path(Path::new("/logs"), "web"), PathBuf::from("/logs/web/web.log"));
    }
}
