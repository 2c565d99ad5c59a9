//! Container records as the API shows them: inspect, list (with filters), status strings.

use std::collections::BTreeMap;

use berth_api::filters::Filters;
use berth_api::types::{ContainerInspect, ContainerState, ContainerSummary, GraphDriver, Port, SummaryHostConfig, SummaryNetworkSettings};

use super::record::{ContainerDirs, ContainerRecord, Status, ZERO_TIME};
use super::Engine;
use crate::error::EngineError;

/// "3 seconds", "About a minute", "2 hours", as Docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        _ if s < 3600 => format!("{} minutes", s / 60),
        _ if s < 7200 => "About an hour".into(),
        _ if s < 48 * 3600 => format!("{} hours", s / 3600),
        _ if s < 14 * 86400 => format!("{} days", s / 86400),
        _ if s < 60 * 86400 => format!("{} weeks", s / (7 * 86400)),
        _ if s < 2 * 365 * 86400 => format!("{} months", s / (30 * 86400)),
        _ => format!("{} years", s / (365 * 86400)),
    }
}

fn since(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).map(|t| chrono::Utc::now().timestamp() - t.timestamp()).unwrap_or(0)
}

/// The `Status` column of `docker ps`.
pub fn status_text(rec: &ContainerRecord, health: Option<&str>) -> String {
    match rec.state.status {
        Status::Running | Status::Paused => {
            let mut s = format!("Up {}", human_duration(since(&rec.state.started_at)));
            if let Some(h) = health {
                s.push_str(&format!(" ({h})"));
            }
            if rec.state.status == Status::Paused {
                s.push_str(" (Paused)");
            }
            s
        }
        Status::Restarting => format!("Restarting ({}) {} ago", rec.state.exit_code, human_duration(since(&rec.state.finished_at))),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited if rec.state.finished_at == ZERO_TIME => "Created".into(),
        Status::Exited => format!("Exited ({}) {} ago", rec.state.exit_code, human_duration(since(&rec.state.finished_at))),
    }
}

impl Engine {
    /// `GET /containers/{id}/json`.
    pub fn inspect_container(&self, name: &str) -> Result<ContainerInspect, EngineError> {
        let h = self.containers.get(name)?;
        let rec = h.snapshot();
        let dirs = ContainerDirs::new(&self.config.data_root, &rec.id);
        let execs = self.execs.of_container(&rec.id);
        let mut host_config = rec.host_config.clone();
        if host_config.log_config.typ.is_empty() {
            host_config.log_config.typ = "json-file".into();
        }
        if host_config.network_mode.is_empty() {
            host_config.network_mode = "bridge".into();
        }
        let mut graph = BTreeMap::new();
        graph.insert("UpperDir".to_string(), dirs.upper().display().to_string());
        graph.insert("WorkDir".to_string(), dirs.work().display().to_string());
        graph.insert("MergedDir".to_string(), berth_runtime::layout::ShimLayout::new(&self.config.exec_root, &rec.id).rootfs().display().to_string());
        Ok(ContainerInspect {
            id: rec.id.clone(),
            created: rec.created.clone(),
            path: rec.path.clone(),
            args: rec.args.clone(),
            state: ContainerState {
                status: rec.state.status.as_str().into(),
                running: rec.state.status.is_running(),
                paused: rec.state.status == Status::Paused,
                restarting: rec.state.status == Status::Restarting,
                oom_killed: rec.state.oom_killed,
                dead: rec.state.status == Status::Dead,
                pid: rec.state.pid,
                exit_code: rec.state.exit_code,
                error: rec.state.error.clone(),
                started_at: rec.state.started_at.clone(),
                finished_at: rec.state.finished_at.clone(),
                health: rec.health.clone().filter(|_| super::health::HealthSpec::of(&rec.config).is_some()),
            },
            image: rec.image_id.clone(),
            resolv_conf_path: dirs.resolv_conf().display().to_string(),
            hostname_path: dirs.hostname().display().to_string(),
            hosts_path: dirs.hosts().display().to_string(),
            log_path: if rec.host_config.log_config.typ == "none" { String::new() } else { dirs.log(&rec.id).display().to_string() },
            name: format!("/{}", rec.name),
            restart_count: rec.restart_count,
            driver: "overlay2".into(),
            platform: "linux".into(),
            exec_ids: if execs.is_empty() { None } else { Some(execs) },
            host_config,
            graph_driver: GraphDriver { name: "overlay2".into(), data: graph },
            mounts: rec.mounts.clone(),
            config: rec.config.clone(),
            network_settings: self.network_settings(&rec),
            ..Default::default()
        })
    }

    /// `GET /containers/json`.
    pub fn list_containers(&self, all: bool, limit: Option<usize>, filters: &Filters) -> Result<Vec<ContainerSummary>, EngineError> {
        filters
            .only(&["id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume", "network", "health", "is-task", "publish", "expose"])
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        super::health::check_filter(filters.get("health"))?;
        let mut recs: Vec<ContainerRecord> = self.containers.all().iter().map(|h| h.snapshot()).collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        // A limit (`ps -l`, `ps -n N`) includes stopped containers, as in Docker.
        let all = all || limit.is_some() || filters.has("status") || filters.has("exited");
        let mut out = Vec::new();
        for rec in recs {
            if !all && !rec.state.status.is_running() {
                continue;
            }
            if !self.matches(&rec, filters) {
                continue;
            }
            let mut row = summary(&rec);
            self.fill_summary_network(&rec, &mut row);
            out.push(row);
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    fn matches(&self, rec: &ContainerRecord, f: &Filters) -> bool {
        let any = |key: &str, test: &dyn Fn(&str) -> bool| !f.has(key) || f.get(key).iter().any(|v| test(v));
        any("id", &|v| rec.id.starts_with(v))
            && any("name", &|v| rec.name.contains(v.trim_start_matches('/')))
            && any("status", &|v| v == rec.state.status.as_str())
            && any("exited", &|v| rec.state.status == Status::Exited && v.parse::<i64>().ok() == Some(rec.state.exit_code))
            && any("ancestor", &|v| v == rec.image || rec.image_id.starts_with(v) || self.images.resolve(v).is_ok_and(|i| i.id == rec.image_id))
            && any("volume", &|v| rec.mounts.iter().any(|m| m.name == v || m.destination == v))
            && any("network", &|v| self.on_network(rec, v))
            && any("health", &|v| v == super::health::filter_value(rec))
            && f.labels_match(&rec.config.labels)
    }
}

/// One `docker ps` row.
pub fn summary(rec: &ContainerRecord) -> ContainerSummary {
    let mut command = rec.path.clone();
    for a in &rec.args {
        command.push(' ');
        command.push_str(a);
    }
    let created = chrono::DateTime::parse_from_rfc3339(&rec.created).map(|t| t.timestamp()).unwrap_or(0);
    let mut ports = Vec::new();
    for p in rec.config.exposed_ports.keys() {
        let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        if let Ok(n) = num.parse::<u16>() {
            ports.push(Port { ip: String::new(), private_port: n, public_port: None, typ: proto.to_string() });
        }
    }
    ContainerSummary {
        id: rec.id.clone(),
        names: vec![format!("/{}", rec.name)],
        image: rec.image.clone(),
        image_id: rec.image_id.clone(),
        command,
        created,
        ports,
        labels: rec.config.labels.clone(),
        state: rec.state.status.as_str().into(),
        status: status_text(rec, super::health::status_suffix(rec).as_deref()),
        host_config: SummaryHostConfig {
            network_mode: if rec.host_config.network_mode.is_empty() { "bridge".into() } else { rec.host_config.network_mode.clone() },
        },
        network_settings: SummaryNetworkSettings::default(),
        mounts: rec.mounts.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(7300), "2 hours");
    }
}
