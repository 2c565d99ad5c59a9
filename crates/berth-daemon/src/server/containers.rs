//! `/containers/...` handlers: parse the request, call the engine, render the answer.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_api::filters::Filters;
use berth_api::types::{ContainerCreateRequest, TopResponse};

use super::hijack;
use super::query::Query;
use super::response::{json, ok, ApiError, ApiResult};
use super::system::stream_response;
use super::AppState;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::engine::lifecycle::WaitCondition;
use crate::engine::logs::{parse_time, LogOptions};
use crate::error::EngineError;

fn filters(q: &Query) -> Result<Filters, EngineError> {
    Filters::parse(&q.str("filters")).map_err(|e| EngineError::Invalid(e.to_string()))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Parses a JSON body, with Docker's wording for malformed input.
pub fn parse_json<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, EngineError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| EngineError::Invalid(format!("invalid JSON: {e}")))
}

/// `GET /containers/json`.
pub async fn list(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let limit = q.int("limit")?.filter(|l| *l > 0).map(|l| l as usize);
    Ok(ok(&engine.list_containers(q.bool("all"), limit, &filters(&q)?)?))
}

/// `POST /containers/create`.
pub async fn create(State(engine): State<AppState>, RawQuery(raw): RawQuery, body: Bytes) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let req: ContainerCreateRequest = parse_json(&body)?;
    let resp = engine.create_container(q.get("name").map(String::from), req).await?;
    Ok(json(StatusCode::CREATED, &resp))
}

/// `GET /containers/{id}/json`.
pub async fn inspect(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok(&engine.inspect_container(&id)?))
}

/// `POST /containers/{id}/start`.
pub async fn start(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    engine.start_container(&id).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/stop`.
pub async fn stop(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    engine.stop(&id, q.int("t")?, q.get("signal")).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/restart`.
pub async fn restart(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    engine.restart(&id, q.int("t")?, q.get("signal")).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/kill`.
pub async fn kill(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    engine.kill(&id, &q.str("signal")).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/pause`.
pub async fn pause(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    engine.set_paused(&id, true).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/unpause`.
pub async fn unpause(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    engine.set_paused(&id, false).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/rename`.
pub async fn rename(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    engine.rename(&id, &q.str("name")).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/resize`.
pub async fn resize(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let h = q.int("h")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let w = q.int("w")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    engine.resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /containers/{id}`.
pub async fn remove(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    engine.remove_container(&id, q.bool("force"), q.bool("v")).await?;
    Ok(no_content())
}

/// `POST /containers/prune`.
pub async fn prune(State(engine): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    Ok(ok(&engine.prune_containers(&filters(&q)?).await?))
}

/// `POST /containers/{id}/wait`: headers now, the body at exit.
pub async fn wait(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let cond = WaitCondition::parse(&q.str("condition"))?;
    let h = engine.containers.get(&id)?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    // The baseline is taken now, so an exit right after this request is not missed.
    let baseline = h.signal.borrow().clone();
    let eng = engine.clone();
    tokio::spawn(async move {
        let resp = eng.wait(h, cond, baseline).await;
        let body = serde_json::to_vec(&resp).unwrap_or_default();
        let _ = tx.send(Bytes::from(body)).await;
    });
    Ok(stream_response(rx, "application/json"))
}

/// `POST /containers/{id}/attach`: hijacks the connection.
pub async fn attach(State(engine): State<AppState>, Path(id): Path<String>, mut req: Request) -> ApiResult<Response> {
    let q = Query::parse(req.uri().query());
    let h = engine.containers.get(&id)?;
    let rec = h.snapshot();
    let (stdin, stdout, stderr) = (q.bool("stdin"), q.bool("stdout"), q.bool("stderr"));
    let upgrade = hijack::take_upgrade(&mut req).ok_or_else(|| EngineError::Invalid("attach requires an Upgrade: tcp request".into()))?;
    let tty = rec.config.tty;
    // With a tty, stdin EOF is a detach, not an end of input (moby closes stdin only without
    // one); sending EOF to the pty would end an interactive shell.
    let close_on_eof = rec.config.stdin_once && !tty;
    let keys = q.str("detachKeys");
    let eng = engine.clone();
    // Attach (or register for the next start) before answering, so output is never missed.
    let ticket = engine.attach(&h, stdin && rec.config.open_stdin, stdout, stderr).await?;
    eng.container_event(&rec, "attach", &[]);
    tokio::spawn(async move {
        let Ok(conn) = ticket.connection().await else { return };
        if hijack::session(upgrade, conn.split(), tty, stdin, close_on_eof, &keys, Box::new(|_| {})).await {
            eng.container_event(&h.snapshot(), "detach", &[]);
        }
    });
    Ok(hijack::switching(tty))
}

/// `GET /containers/{id}/logs`.
pub async fn logs(State(engine): State<AppState>, Path(id): Path<String>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(raw.as_deref());
    let tail = match q.get("tail") {
        None | Some("") | Some("all") => None,
        Some(t) => Some(t.parse::<i64>().map_err(|_| EngineError::Invalid(format!("invalid tail {t:?}")))?.max(0) as usize),
    };
    let opts = LogOptions {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        follow: q.bool("follow"),
        tail,
        since: parse_time(&q.str("since"))?,
        until: parse_time(&q.str("until"))?,
        timestamps: q.bool("timestamps"),
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError(EngineError::Invalid("Bad parameters: you must choose at least one stream".into())));
    }
    let (tty, rx) = engine.logs(&id, opts)?;
    Ok(stream_response(rx, hijack::stream_type(tty)))
}

/// `GET /containers/{id}/top`.
pub async fn top(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let h = engine.containers.get(&id)?;
    let rec = h.snapshot();
    if !rec.state.status.is_running() {
        return Err(ApiError(EngineError::Conflict(format!("container {} is not running", rec.id))));
    }
    let pids = container_pids(&engine.config.cgroup_parent, &rec.id);
    let mut processes = Vec::new();
    for pid in pids {
        if let Some(row) = ps_row(pid) {
            processes.push(row);
        }
    }
    Ok(ok(&TopResponse { titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"].iter().map(|s| s.to_string()).collect(), processes }))
}

/// The pids in a container's cgroup (v1 pids/memory controller, or v2).
fn container_pids(parent: &str, id: &str) -> Vec<i32> {
    let rel = format!("{}/{}", parent.trim_matches('/'), id);
    for base in ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup"] {
        let p = std::path::Path::new(base).join(&rel).join("cgroup.procs");
        if let Ok(s) = std::fs::read_to_string(&p) {
            let mut pids: Vec<i32> = s.lines().filter_map(|l| l.trim().parse().ok()).collect();
            pids.sort_unstable();
            return pids;
        }
    }
    Vec::new()
}

/// One `ps -ef`-like row from /proc.
fn ps_row(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ppid = fields.get(1)?.to_string();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = 100u64;
    let secs = (utime + stime) / ticks;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmd = cmdline.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect::<Vec<_>>().join(" ");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().next()).unwrap_or("0");
    let user = if uid == "0" { "root".to_string() } else { uid.to_string() };
    Some(vec![
        user,
        pid.to_string(),
        ppid,
        "0".into(),
        chrono::Local::now().format("%H:%M").to_string(),
        "?".into(),
        format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60),
        cmd,
    ])
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/json", get(list))
        .route("/containers/create", post(create))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}", delete(remove))
}
