//! Dockerfile instructions applied to an image config: `import --change`, `commit --change`,
//! and the builder's config-only steps all go through [`apply`].

use std::collections::BTreeMap;

use berth_build::{CommandForm, Dockerfile, HealthcheckSpec, Instruction};
use berth_image::config::RunDefaults;
use serde_json::{json, Value};

use crate::error::EngineError;

/// The shell of shell-form commands when the image sets none.
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

fn env_map(cfg: &RunDefaults) -> Vec<(String, String)> {
    cfg.env.iter().flatten().filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))).collect()
}

fn shell(cfg: &RunDefaults) -> Vec<String> {
    cfg.shell.clone().unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
}

/// Applies `--change` lines (`CMD ["x"]`, `ENV A=1`, ...) to `cfg`.
pub fn apply_changes(cfg: &mut RunDefaults, changes: &[String]) -> Result<(), EngineError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut text = String::from("FROM scratch\n");
    for c in changes {
        text.push_str(c);
        text.push('\n');
    }
    let df = Dockerfile::parse_named(&text, "change").map_err(|e| EngineError::Invalid(e.to_string()))?;
    let Some(stage) = df.stages.first() else { return Ok(()) };
    for ins in &stage.instructions {
        let scope = env_map(cfg);
        let ins = df.expand(ins, &scope).map_err(|e| EngineError::Invalid(e.to_string()))?;
        apply(cfg, &ins)?;
    }
    Ok(())
}

/// Applies one (already expanded) config instruction. Filesystem instructions are refused.
pub fn apply(cfg: &mut RunDefaults, ins: &Instruction) -> Result<(), EngineError> {
    match ins {
        Instruction::Cmd(c) => cfg.cmd = Some(argv(&c.command, cfg)),
        Instruction::Entrypoint(e) => {
            cfg.entrypoint = Some(argv(&e.command, cfg));
            cfg.cmd = None;
        }
        Instruction::Env(e) => {
            let mut env = cfg.env.take().unwrap_or_default();
            for kv in &e.vars {
                env.retain(|x| x.split('=').next() != Some(kv.key.as_str()));
                env.push(format!("{}={}", kv.key, kv.value));
            }
            cfg.env = Some(env);
        }
        Instruction::Label(l) => {
            let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
            for kv in &l.labels {
                labels.insert(kv.key.clone(), kv.value.clone());
            }
        }
        Instruction::Expose(x) => {
            let ports = berth_build::parse_ports(&x.ports).map_err(|e| EngineError::Invalid(e.to_string()))?;
            let map = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in ports {
                map.insert(p, json!({}));
            }
        }
        Instruction::Volume(v) => {
            let map = cfg.volumes.get_or_insert_with(BTreeMap::new);
            for p in &v.paths {
                map.insert(p.clone(), json!({}));
            }
        }
        Instruction::User(u) => cfg.user = u.user.clone(),
        Instruction::Workdir(w) => {
            cfg.working_dir = if w.path.starts_with('/') {
                w.path.clone()
            } else {
                let base = if cfg.working_dir.is_empty() { "/" } else { cfg.working_dir.as_str() };
                format!("{}/{}", base.trim_end_matches('/'), w.path)
            };
        }
        Instruction::StopSignal(s) => cfg.stop_signal = s.signal.clone(),
        Instruction::Shell(s) => cfg.shell = Some(s.shell.clone()),
        Instruction::Onbuild(o) => cfg.on_build.get_or_insert_with(Vec::new).push(o.expression.clone()),
        Instruction::Healthcheck(h) => cfg.healthcheck = Some(healthcheck(&h.check, cfg)),
        Instruction::Maintainer(_) | Instruction::Arg(_) => {}
        other => return Err(EngineError::Invalid(format!("{} is not a valid change command", other.keyword().to_lowercase()))),
    }
    Ok(())
}

/// The argv stored for a command, given the config's shell.
pub fn argv(c: &CommandForm, cfg: &RunDefaults) -> Vec<String> {
    c.to_argv(&shell(cfg))
}

fn healthcheck(spec: &HealthcheckSpec, cfg: &RunDefaults) -> Value {
    match spec {
        HealthcheckSpec::None => json!({"Test": ["NONE"]}),
        HealthcheckSpec::Cmd(c) => {
            let test = match &c.command {
                CommandForm::Exec(args) => {
                    let mut t = vec!["CMD".to_string()];
                    t.extend(args.iter().cloned());
                    t
                }
                CommandForm::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
            };
            let _ = cfg;
            json!({
                "Test": test,
                "Interval": c.interval_ns,
                "Timeout": c.timeout_ns,
                "StartPeriod": c.start_period_ns,
                "StartInterval": c.start_interval_ns,
                "Retries": c.retries,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_edit_the_config() {
        let mut cfg = RunDefaults { env: Some(vec!["PATH=/bin".into()]), ..Default::default() };
        apply_changes(
            &mut cfg,
            &[
                "CMD [\"httpd\", \"-f\"]".into(),
                "ENV A=1 B=$PATH".into(),
                "EXPOSE 80 53/udp".into(),
                "WORKDIR /srv".into(),
                "LABEL k=v".into(),
                "USER www".into(),
            ],
        )
        .unwrap();
        assert_eq!(cfg.cmd, Some(vec!["httpd".to_string(), "-f".to_string()]));
        assert_eq!(cfg.env, Some(vec!["PATH=/bin".into(), "A=1".into(), "B=/bin".into()]));
        assert!(cfg.exposed_ports.as_ref().unwrap().contains_key("53/udp"));
        assert_eq!(cfg.working_dir, "/srv");
        assert_eq!(cfg.user, "www");
        assert!(apply_changes(&mut cfg, &["RUN echo".into()]).unwrap_err().to_string().contains("run is not a valid"));
        apply_changes(&mut cfg, &["CMD echo hi".into()]).unwrap();
        assert_eq!(cfg.cmd, Some(vec!["/bin/sh".to_string(), "-c".to_string(), "echo hi".to_string()]));
    }
}
