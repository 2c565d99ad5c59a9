//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api::filters::Filters;
use berth_api::types::{ComponentVersion, Event, Info, PlatformName, Version};
use bytes::Bytes;
use serde_json::json;

use super::query::Query;
use super::response::{ok, ApiResult};
use super::AppState;
use axum::routing::get;
use axum::Router;

use crate::engine::logs::parse_time;
use crate::error::EngineError;

/// `GET|HEAD /_ping`.
pub async fn ping() -> Response {
    let mut r = (StatusCode::OK, "OK").into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn kernel() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())))
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())))
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// `GET /version`.
pub async fn version() -> Response {
    let arch = berth_image::config::host_architecture().to_string();
    let mut details = BTreeMap::new();
    details.insert("ApiVersion".to_string(), berth_api::API_VERSION.to_string());
    details.insert("MinAPIVersion".to_string(), berth_api::MIN_API_VERSION.to_string());
    details.insert("Os".to_string(), "linux".to_string());
    details.insert("Arch".to_string(), arch.clone());
    details.insert("KernelVersion".to_string(), kernel());
    ok(&Version {
        platform: PlatformName { name: "berth".into() },
        components: vec![ComponentVersion { name: "Engine".into(), version: berth_api::ENGINE_VERSION.into(), details }],
        version: berth_api::ENGINE_VERSION.into(),
        api_version: berth_api::API_VERSION.into(),
        min_api_version: berth_api::MIN_API_VERSION.into(),
        git_commit: env!("CARGO_PKG_VERSION").into(),
        go_version: "rust".into(),
        os: "linux".into(),
        arch,
        kernel_version: kernel(),
        build_time: String::new(),
    })
}

/// `GET /info`.
pub async fn info(State(engine): State<AppState>) -> ApiResult<Response> {
    let recs: Vec<_> = engine.containers.all().iter().map(|h| h.snapshot()).collect();
    let count = |s: &[&str]| recs.iter().filter(|r| s.contains(&r.state.status.as_str())).count() as i64;
    let images = engine.images.list().map_err(EngineError::from)?.len() as i64;
    let cgroup_v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    Ok(ok(&Info {
        id: engine.daemon_id.clone(),
        containers: recs.len() as i64,
        containers_running: count(&["running", "restarting"]),
        containers_paused: count(&["paused"]),
        containers_stopped: count(&["created", "exited", "dead", "removing"]),
        images,
        driver: "overlay2".into(),
        driver_status: vec![vec!["Backing Filesystem".into(), "extfs".into()]],
        docker_root_dir: engine.config.data_root.display().to_string(),
        ncpu: std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1),
        mem_total: mem_total(),
        kernel_version: kernel(),
        operating_system: os_name(),
        os_type: "linux".into(),
        architecture: std::env::consts::ARCH.into(),
        server_version: berth_api::ENGINE_VERSION.into(),
        name: nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: if cgroup_v2 { "2".into() } else { "1".into() },
        logging_driver: "json-file".into(),
        plugins: json!({"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file", "local", "none"]}),
        runtimes: json!({"berth": {"path": "libcontainer"}}),
        default_runtime: "berth".into(),
        security_options: vec!["name=seccomp,profile=builtin".into()],
        registry_config: engine
            .registry_policy()
            .map(|p| p.info_json())
            .unwrap_or_else(|_| json!({"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"], "Mirrors": []})),
        swarm: json!({"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null}),
        memory_limit: true,
        swap_limit: true,
        cpu_cfs_period: true,
        cpu_cfs_quota: true,
        cpu_shares: true,
        cpu_set: true,
        pids_limit: true,
        ipv4_forwarding: true,
        live_restore_enabled: true,
        system_time: chrono::Utc::now().to_rfc3339(),
        index_server_address: "https://index.docker.io/v1/".into(),
        ..Default::default()
    }))
}

fn event_matches(ev: &Event, f: &Filters, engine: &AppState) -> bool {
    let any = |key: &str, test: &dyn Fn(&str) -> bool| !f.has(key) || f.get(key).iter().any(|v| test(v));
    let action_base = ev.action.split(':').next().unwrap_or_default();
    any("type", &|v| v == ev.typ)
        && any("event", &|v| v == ev.action || v == action_base)
        && any("container", &|v| {
            ev.typ == "container"
                && (ev.actor.id.starts_with(v)
                    || ev.actor.attributes.get("name").is_some_and(|n| n == v)
                    || engine.containers.get(v).is_ok_and(|h| h.id == ev.actor.id))
        })
        && any("image", &|v| ev.actor.attributes.get("image").is_some_and(|i| i == v) || (ev.typ == "image" && ev.actor.id.contains(v)))
        && any("volume", &|v| ev.typ == "volume" && ev.actor.id == v)
        && f.labels_match(&ev.actor.attributes)
}

/// `GET /events`: past events since `since`, then live ones until `until`.
pub async fn events(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let filters = Filters::parse(&q.str("filters")).map_err(|e| EngineError::Invalid(e.to_string()))?;
    let since = parse_time(&q.str("since"))?;
    let until = parse_time(&q.str("until"))?;
    let (history, mut rx) = engine.events.subscribe();
    let (tx, out) = tokio::sync::mpsc::channel::<Bytes>(256);
    let eng = engine.clone();
    tokio::spawn(async move {
        let in_range = |ev: &Event| {
            let t = ev.time_nano as f64 / 1e9;
            since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
        };
        let line = |ev: &Event| Bytes::from(format!("{}\n", serde_json::to_string(ev).unwrap_or_default()));
        if since.is_some() {
            for ev in history.iter().filter(|e| in_range(e) && event_matches(e, &filters, &eng)) {
                if tx.send(line(ev)).await.is_err() {
                    return;
                }
            }
        }
        let deadline = until.map(|u| {
            let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as f64 / 1e9;
            tokio::time::Instant::now() + std::time::Duration::from_secs_f64((u - now).max(0.0))
        });
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            };
            tokio::select! {
                r = next => match r {
                    None => return,
                    Some(Ok(ev)) => {
                        if event_matches(&ev, &filters, &eng) && in_range(&ev) && tx.send(line(&ev)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                    Some(Err(_)) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    Ok(stream_response(out, "application/json"))
}

/// A chunked response fed by a channel.
pub fn stream_response(rx: tokio::sync::mpsc::Receiver<Bytes>, content_type: &'static str) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx)) });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `GET /system/df`.
pub async fn df(State(engine): State<AppState>) -> ApiResult<Response> {
    Ok(ok(&engine.system_df().await?))
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/events", get(events))
        .route("/system/df", get(df))
}
