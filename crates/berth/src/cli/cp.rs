//! `cp`: copies between a container and the local filesystem through
//! `GET|HEAD|PUT /containers/{id}/archive`, with docker's rules for existing and missing
//! destinations; `-` streams a tar on stdout or reads one from stdin.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use berth_api::client::{empty, full, query, streaming};
use clap::Args;
use hyper::Method;
use serde_json::Value;

use super::error::{CliError, Result};
use super::format::human_size_prec;
use super::progress::next_chunk;
use super::Ctx;

/// `berth cp`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH")]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Source
    #[arg(value_name = "SRC")]
    pub src: String,
    /// Destination
    #[arg(value_name = "DEST")]
    pub dst: String,
}

/// `CONTAINER:PATH` split (a local path containing `/` before `:` is not a container).
fn split_remote(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

/// Decodes `X-Docker-Container-Path-Stat`; `(name, is_dir)`.
fn path_stat(resp: &hyper::Response<hyper::body::Incoming>) -> Option<(String, bool)> {
    let raw = resp.headers().get("X-Docker-Container-Path-Stat")?.to_str().ok()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(raw)).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let mode = v["mode"].as_u64().unwrap_or(0);
    Some((v["name"].as_str().unwrap_or("").to_string(), mode & (1 << 31) != 0))
}

/// `berth cp`.
pub async fn run(ctx: &Ctx, a: CpArgs) -> Result<i32> {
    match (split_remote(&a.src), split_remote(&a.dst)) {
        (Some(_), Some(_)) => Err(CliError::msg("copying between containers is not supported")),
        (None, None) => Err(CliError::msg("must specify at least one container source")),
        (Some((c, p)), None) => from_container(ctx, &a, c, p).await,
        (None, Some((c, p))) => to_container(ctx, &a, c, p).await,
    }
}

fn report(a: &CpArgs, bytes: usize, to: &str) {
    if !a.quiet && std::io::stderr().is_terminal() {
        eprintln!("Successfully copied {} to {to}", human_size_prec(bytes as f64, 3));
    }
}

/// With `-L`, a source that is a symlink is replaced by what it points to, as docker does.
async fn follow_source(ctx: &Ctx, container: &str, path: &str) -> Result<String> {
    let q = query(&[("path", path.to_string())]);
    let head = ctx.client.send(Method::HEAD, &format!("/containers/{container}/archive{q}"), empty(), &[]).await?;
    let raw = head.headers().get("X-Docker-Container-Path-Stat").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let stat: Value = base64::engine::general_purpose::STANDARD.decode(raw).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
    let target = stat["linkTarget"].as_str().unwrap_or("");
    if stat["mode"].as_u64().unwrap_or(0) & (1 << 27) == 0 || target.is_empty() {
        return Ok(path.to_string());
    }
    if target.starts_with('/') {
        return Ok(target.to_string());
    }
    let parent = Path::new(path).parent().map(|p| p.display().to_string()).unwrap_or_else(|| "/".into());
    Ok(format!("{}/{target}", parent.trim_end_matches('/')))
}

async fn from_container(ctx: &Ctx, a: &CpArgs, container: &str, path: &str) -> Result<i32> {
    let followed;
    let path = if a.follow_link {
        followed = follow_source(ctx, container, path).await?;
        followed.as_str()
    } else {
        path
    };
    let q = query(&[("path", path.to_string())]);
    let resp = ctx.client.call(Method::GET, &format!("/containers/{container}/archive{q}"), empty(), &[]).await?;
    let stat = path_stat(&resp);
    let mut body = resp.into_body();
    if a.dst == "-" {
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = next_chunk(&mut body).await? {
            out.write_all(&chunk)?;
        }
        out.flush()?;
        return Ok(0);
    }
    let mut data = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        data.extend_from_slice(&chunk);
    }
    let (name, src_is_dir) = stat.unwrap_or_else(|| (Path::new(path).file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(), false));
    let dst = PathBuf::from(&a.dst);
    let size = data.len();
    let dst2 = dst.clone();
    tokio::task::spawn_blocking(move || extract(&data, &name, src_is_dir, &dst2)).await.map_err(|e| CliError::msg(e.to_string()))??;
    report(a, size, &dst.display().to_string());
    Ok(0)
}

/// Extracts a tar whose entries start with `name`: into `dst` if it is a directory, else
/// renamed to `dst` (docker's "copy to a new name").
fn extract(data: &[u8], name: &str, src_is_dir: bool, dst: &Path) -> Result<()> {
    let (target_dir, rename) = if dst.is_dir() {
        (dst.to_path_buf(), None)
    } else {
        if src_is_dir && dst.exists() {
            return Err(CliError::msg("cannot copy a directory to a file"));
        }
        let parent = dst.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        if !parent.is_dir() {
            return Err(CliError::msg(format!("invalid output path: directory {:?} does not exist", parent.display().to_string())));
        }
        (parent, dst.file_name().map(|n| n.to_string_lossy().to_string()))
    };
    let mut archive = tar::Archive::new(data);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let rel = entry.path()?.to_path_buf();
        let rel = match (&rename, rel.strip_prefix(name)) {
            (Some(new), Ok(rest)) if rest.as_os_str().is_empty() => PathBuf::from(new),
            (Some(new), Ok(rest)) => Path::new(new).join(rest),
            _ => rel,
        };
        let dest = target_dir.join(&rel);
        if rel.components().any(|c| matches!(c, std::path::Component::ParentDir | std::path::Component::RootDir)) {
            return Err(CliError::msg(format!("invalid archive entry {}", rel.display())));
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        entry.unpack(&dest)?;
    }
    Ok(())
}

/// Builds a tar of `src` whose top entry is named `name`.
fn tar_path(src: &Path, name: &str, follow: bool) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(follow);
    let meta = if follow { std::fs::metadata(src) } else { std::fs::symlink_metadata(src) }
        .map_err(|e| CliError::msg(format!("lstat {}: {}", src.display(), super::opts::io_text(&e))))?;
    if meta.is_dir() {
        b.append_dir_all(name, src)?;
    } else {
        b.append_path_with_name(src, name)?;
    }
    Ok(b.into_inner()?)
}

async fn to_container(ctx: &Ctx, a: &CpArgs, container: &str, path: &str) -> Result<i32> {
    let q = query(&[("path", path.to_string())]);
    let head = ctx.client.send(Method::HEAD, &format!("/containers/{container}/archive{q}"), empty(), &[]).await?;
    let status = head.status();
    let dst_stat = path_stat(&head);
    if status.as_u16() != 404 {
        berth_api::client::check(head).await?;
    }
    let dst_is_dir = dst_stat.as_ref().is_some_and(|(_, d)| *d) || path.ends_with('/');
    let (dir, name_override) = if dst_is_dir || a.src == "-" {
        (path.to_string(), None)
    } else {
        let p = Path::new(path);
        let parent = p.parent().map(|x| x.display().to_string()).filter(|s| !s.is_empty()).unwrap_or_else(|| "/".into());
        (parent, p.file_name().map(|n| n.to_string_lossy().to_string()))
    };
    let archive = if a.archive { "true" } else { "" };
    let q = query(&[("path", dir.clone()), ("noOverwriteDirNonDir", "true".into()), ("copyUIDGID", archive.to_string())]);
    let put = format!("/containers/{container}/archive{q}");
    if a.src == "-" {
        ctx.client.call(Method::PUT, &put, streaming(std::io::stdin()), &[("Content-Type", "application/x-tar")]).await?;
        return Ok(0);
    }
    let src = PathBuf::from(&a.src);
    let name = name_override.unwrap_or_else(|| src.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| ".".into()));
    let follow = a.follow_link;
    let data = tokio::task::spawn_blocking(move || tar_path(&src, &name, follow)).await.map_err(|e| CliError::msg(e.to_string()))??;
    let size = data.len();
    ctx.client.call(Method::PUT, &put, full(data), &[("Content-Type", "application/x-tar")]).await?;
    report(a, size, &format!("{container}:{path}"));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths() {
        assert_eq!(split_remote("web:/etc/hosts"), Some(("web", "/etc/hosts")));
        assert_eq!(split_remote("/tmp/a:b"), None);
        assert_eq!(split_remote("./a:b"), None);
        assert_eq!(split_remote("file"), None);
        assert_eq!(split_remote("-"), None);
    }

    #[test]
    fn tar_and_extract_with_rename() {
        let dir = std::env::temp_dir().join(format!("berth-cp-test-{}", std::process::id()));
        let src = dir.join("src");
        let _ = std::fs::create_dir_all(src.join("sub"));
        let _ = std::fs::write(src.join("sub/f"), b"hello");
        let data = tar_path(&src, "src", false).unwrap_or_default();
        let dst = dir.join("renamed");
        assert!(extract(&data, "src", true, &dst).is_ok());
        assert_eq!(std::fs::read(dst.join("sub/f")).unwrap_or_default(), b"hello");
        let into = dir.join("existing");
        let _ = std::fs::create_dir_all(&into);
        assert!(extract(&data, "src", true, &into).is_ok());
        assert!(into.join("src/sub/f").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
