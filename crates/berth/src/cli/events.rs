//! `events`: the `GET /events` stream, printed like docker's `prettyPrintEvent` or through
//! a `--format` template; ctrl-c ends it.

use std::io::Write;

use berth_api::client::{empty, query};
use berth_api::types::Event;
use clap::Args;
use hyper::Method;

use super::error::{CliError, Result};
use super::progress::{next_chunk, JsonSplitter};
use super::template::Template;
use super::{format, opts, ps, Ctx};

/// `berth events`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth events [OPTIONS]")]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long = "since", value_name = "string")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long = "until", value_name = "string")]
    pub until: Option<String>,
}

/// docker's `RFC3339NanoFixed` in local time.
fn event_time(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let sub = nanos.rem_euclid(1_000_000_000) as u32;
    let Some(t) = chrono::DateTime::from_timestamp(secs, sub) else {
        return String::new();
    };
    let local = t.with_timezone(&chrono::Local);
    let text = local.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string();
    match text.strip_suffix("+00:00") {
        Some(base) => format!("{base}Z"),
        None => text,
    }
}

/// One event as docker prints it by default.
pub fn pretty(e: &Event) -> String {
    let nanos = if e.time_nano != 0 { e.time_nano } else { e.time * 1_000_000_000 };
    let mut out = String::new();
    if nanos != 0 {
        out.push_str(&event_time(nanos));
        out.push(' ');
    }
    out.push_str(&format!("{} {} {}", e.typ, e.action, e.actor.id));
    if !e.actor.attributes.is_empty() {
        let attrs: Vec<String> = e.actor.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!(" ({})", attrs.join(", ")));
    }
    out
}

/// `berth events`.
pub async fn run(ctx: &Ctx, a: EventsArgs) -> Result<i32> {
    let filters = ps::parse_filters(&a.filter)?;
    let now = format::now_unix();
    let ts = |v: &Option<String>| v.as_deref().map(|v| opts::get_timestamp(v, now)).transpose().map_err(CliError::Msg);
    let q = query(&[
        ("since", ts(&a.since)?.unwrap_or_default()),
        ("until", ts(&a.until)?.unwrap_or_default()),
        ("filters", if filters.0.is_empty() { String::new() } else { filters.to_json() }),
    ]);
    let tpl = match a.format.as_deref().filter(|f| !f.is_empty()) {
        Some("json") => Some(Template::parse("{{json .}}")),
        Some(f) => Some(Template::parse(f)),
        None => None,
    }
    .transpose()
    .map_err(|e| CliError::msg(format!("template parsing error: {e}")))?;
    let resp = ctx.client.call(Method::GET, &format!("/events{q}"), empty(), &[]).await?;
    let mut body = resp.into_body();
    let stream = async {
        let mut split = JsonSplitter::default();
        while let Some(chunk) = next_chunk(&mut body).await? {
            for raw in split.push::<serde_json::Value>(&chunk) {
                let raw = raw.map_err(CliError::Msg)?;
                let line = match &tpl {
                    Some(t) => t.render(&raw).map_err(|e| CliError::msg(e.to_string()))?,
                    None => pretty(&serde_json::from_value(raw)?),
                };
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")?;
                out.flush()?;
            }
        }
        Ok::<_, CliError>(())
    };
    tokio::select! {
        r = stream => r.map(|_| 0),
        _ = tokio::signal::ctrl_c() => Ok(130),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_like_docker() {
        let mut e = Event { typ: "container".into(), action: "start".into(), ..Default::default() };
        e.actor.id = "abc".into();
        e.actor.attributes.insert("name".into(), "web".into());
        e.actor.attributes.insert("image".into(), "busybox".into());
        assert_eq!(pretty(&e), "container start abc (image=busybox, name=web)");
        e.time_nano = 1_700_000_000_123_456_789;
        assert!(pretty(&e).contains(".123456789"));
    }
}
