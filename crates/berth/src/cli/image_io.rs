//! Moving filesystems and images in and out as tar streams: `import`, `export`, `save`,
//! `load` and `commit`.

use std::io::{IsTerminal, Write};

use berth_api::client::{empty, query, streaming};
use berth_api::types::IdResponse;
use berth_image::Reference;
use clap::Args;
use hyper::Method;

use super::error::{CliError, Result};
use super::progress::{self, next_chunk};
use super::Ctx;

/// `import`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]")]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message", value_name = "string", default_value = "")]
    pub message: String,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// file, URL or - for stdin
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    /// Repository and tag for the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `export`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth export [OPTIONS] CONTAINER")]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<String>,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `save`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth save [OPTIONS] IMAGE [IMAGE...]")]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<String>,
    /// Save only the given platform variant
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Images
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// `load`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth load [OPTIONS]")]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input", value_name = "string")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Load only the given platform variant
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
}

/// `commit`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]")]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long = "author", value_name = "string", default_value = "")]
    pub author: String,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long = "message", value_name = "string", default_value = "")]
    pub message: String,
    /// Pause container during commit
    #[arg(short = 'p', long = "pause", value_name = "bool", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pause: bool,
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Repository and tag for the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// Opens the body of an upload: a file, or stdin for `-`/nothing.
async fn upload_body(file: Option<&str>) -> Result<berth_api::client::Body> {
    match file.filter(|f| *f != "-") {
        Some(path) => {
            let f = std::fs::File::open(path).map_err(|e| CliError::msg(format!("open {path}: {}", super::opts::io_text(&e))))?;
            Ok(streaming(f))
        }
        None => Ok(streaming(std::io::stdin())),
    }
}

/// `berth import`.
pub async fn import(ctx: &Ctx, a: ImportArgs) -> Result<i32> {
    if let Some(r) = &a.reference {
        Reference::parse(r).map_err(|e| CliError::msg(e.to_string()))?;
    }
    let remote = a.source.contains("://");
    let mut pairs = vec![
        ("fromSrc", if remote { a.source.clone() } else { "-".to_string() }),
        ("repo", a.reference.clone().unwrap_or_default()),
        ("message", a.message.clone()),
        ("platform", a.platform.clone().unwrap_or_default().to_lowercase()),
    ];
    pairs.extend(a.change.iter().map(|c| ("changes", c.clone())));
    let body = if remote { empty() } else { upload_body(Some(&a.source)).await? };
    let resp = ctx.client.call(Method::POST, &format!("/images/create{}", query(&pairs)), body, &[]).await?;
    progress::render(resp, std::io::stdout(), false, false).await?;
    Ok(0)
}

/// Writes a download to `-o FILE` or stdout (refusing a terminal, like docker).
async fn download(ctx: &Ctx, path: &str, output: Option<&str>, what: &str) -> Result<i32> {
    if output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::msg("cowardly refusing to save to a terminal. Use the -o flag or redirect"));
    }
    let resp = ctx.client.call(Method::GET, path, empty(), &[]).await?;
    let mut out: Box<dyn Write> = match output {
        Some(f) => Box::new(std::fs::File::create(f).map_err(|e| CliError::msg(format!("failed to {what}: {e}")))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut body = resp.into_body();
    while let Some(chunk) = next_chunk(&mut body).await? {
        out.write_all(&chunk)?;
    }
    out.flush()?;
    Ok(0)
}

/// `berth export`.
pub async fn export(ctx: &Ctx, a: ExportArgs) -> Result<i32> {
    download(ctx, &format!("/containers/{}/export", a.container), a.output.as_deref(), "export container").await
}

/// `berth save`.
pub async fn save(ctx: &Ctx, a: SaveArgs) -> Result<i32> {
    let mut pairs: Vec<(&str, String)> = a.images.iter().map(|i| ("names", i.clone())).collect();
    pairs.push(("platform", a.platform.clone().unwrap_or_default()));
    download(ctx, &format!("/images/get{}", query(&pairs)), a.output.as_deref(), "save image").await
}

/// `berth load`.
pub async fn load(ctx: &Ctx, a: LoadArgs) -> Result<i32> {
    if a.input.is_none() && std::io::stdin().is_terminal() {
        return Err(CliError::msg("requested load from stdin, but stdin is empty"));
    }
    let q = query(&[("quiet", if a.quiet { "1".into() } else { String::new() }), ("platform", a.platform.clone().unwrap_or_default())]);
    let body = upload_body(a.input.as_deref()).await?;
    let resp = ctx.client.call(Method::POST, &format!("/images/load{q}"), body, &[("Content-Type", "application/x-tar")]).await?;
    let json = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("application/json"));
    if json {
        progress::render(resp, std::io::stdout(), false, false).await?;
        return Ok(0);
    }
    let mut body = resp.into_body();
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = next_chunk(&mut body).await? {
        out.write_all(&chunk)?;
    }
    Ok(0)
}

/// `berth commit`: prints the new image id.
pub async fn commit(ctx: &Ctx, a: CommitArgs) -> Result<i32> {
    let (repo, tag) = match &a.reference {
        Some(r) => {
            let parsed = Reference::parse(r).map_err(|e| CliError::msg(e.to_string()))?;
            if parsed.digest.is_some() {
                return Err(CliError::msg("refusing to create a tag with a digest reference"));
            }
            (parsed.repository(), parsed.tag.unwrap_or_else(|| "latest".into()))
        }
        None => (String::new(), String::new()),
    };
    let mut pairs = vec![
        ("container", a.container.clone()),
        ("repo", repo),
        ("tag", tag),
        ("comment", a.message.clone()),
        ("author", a.author.clone()),
        ("pause", if a.pause { String::new() } else { "0".into() }),
    ];
    pairs.extend(a.change.iter().map(|c| ("changes", c.clone())));
    let created: IdResponse = ctx.post(&format!("/commit{}", query(&pairs)), Some(&serde_json::json!({}))).await?;
    println!("{}", created.id);
    Ok(0)
}
