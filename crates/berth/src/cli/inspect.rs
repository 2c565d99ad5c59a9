//! `inspect`: raw JSON of containers, images, volumes or networks, tried in docker's order
//! when no `--type` is given; printed as an indented array or through a `--format` template.

use berth_api::client::empty;
use clap::Args;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::Value;

use super::error::{CliError, Result};
use super::format::indent_json;
use super::template::Template;
use super::Ctx;

/// `berth inspect`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth inspect [OPTIONS] NAME|ID [NAME|ID...]")]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Only inspect objects of the given type
    #[arg(long = "type", value_name = "string")]
    pub typ: Option<String>,
    /// Objects to inspect
    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

/// `berth container|image|volume inspect`.
#[derive(Args, Debug, Clone)]
pub struct TypedInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Objects to inspect
    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

const TYPES: [&str; 4] = ["container", "image", "volume", "network"];

fn path_for(typ: &str, name: &str, size: bool) -> String {
    match typ {
        "container" => format!("/containers/{name}/json{}", if size { "?size=1" } else { "" }),
        "image" => format!("/images/{name}/json"),
        "volume" => format!("/volumes/{name}"),
        _ => format!("/networks/{name}"),
    }
}

async fn fetch_raw(ctx: &Ctx, path: &str) -> Result<Vec<u8>> {
    let resp = ctx.client.call(Method::GET, path, empty(), &[]).await?;
    Ok(resp.into_body().collect().await?.to_bytes().to_vec())
}

fn skippable(e: &CliError) -> bool {
    e.is_not_found() || e.to_string().contains("not supported")
}

/// Looks `name` up as each type in turn; the raw JSON of the first hit.
async fn lookup_any(ctx: &Ctx, name: &str, size: bool) -> Result<Vec<u8>> {
    for typ in TYPES {
        match fetch_raw(ctx, &path_for(typ, name, size)).await {
            Ok(raw) => return Ok(raw),
            Err(e) if skippable(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(CliError::msg(format!("Error: No such object: {name}")))
}

/// Prints the found objects (array or template) and the errors; exit 1 if any failed.
fn output(found: &[Vec<u8>], errors: &[String], format: Option<&str>) -> Result<i32> {
    match format.filter(|f| !f.is_empty()) {
        None => {
            let joined = format!("[{}]", found.iter().map(|r| String::from_utf8_lossy(r).trim().to_string()).collect::<Vec<_>>().join(","));
            println!("{}", indent_json(joined.as_bytes()));
        }
        Some(f) => {
            let f = if f == "json" { "{{json .}}" } else { f };
            let tpl = Template::parse(f).map_err(|e| CliError::msg(format!("template parsing error: {e}")))?;
            for raw in found {
                let v: Value = serde_json::from_slice(raw)?;
                println!("{}", tpl.render(&v).map_err(|e| CliError::msg(format!("template: {e}")))?);
            }
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}

/// `berth inspect`.
pub async fn run(ctx: &Ctx, a: InspectArgs) -> Result<i32> {
    if let Some(t) = &a.typ {
        if !TYPES.contains(&t.as_str()) {
            return Err(CliError::msg(format!("\"{t}\" is not a valid value for --type")));
        }
    }
    let (mut found, mut errors) = (Vec::new(), Vec::new());
    for name in &a.names {
        let r = match &a.typ {
            Some(t) => fetch_raw(ctx, &path_for(t, name, a.size)).await.map_err(|e| {
                if e.is_not_found() {
                    CliError::msg(format!("Error: No such {t}: {name}"))
                } else {
                    e
                }
            }),
            None => lookup_any(ctx, name, a.size).await,
        };
        match r {
            Ok(raw) => found.push(raw),
            Err(e) => errors.push(e.to_string()),
        }
    }
    output(&found, &errors, a.format.as_deref())
}

/// `berth container|image|volume inspect`.
pub async fn run_typed(ctx: &Ctx, a: TypedInspectArgs, typ: &str) -> Result<i32> {
    let (mut found, mut errors) = (Vec::new(), Vec::new());
    for name in &a.names {
        match fetch_raw(ctx, &path_for(typ, name, a.size)).await {
            Ok(raw) => found.push(raw),
            Err(e) => errors.push(e.to_string()),
        }
    }
    output(&found, &errors, a.format.as_deref())
}
