//! `ADD <url>`: the classic builder's remote sources. The file is downloaded again on every
//! build (only its content can tell whether the step is cached), into a private directory of
//! the build, with mode 0600 and the `Last-Modified` time (the Unix epoch without one), and
//! copied like a context file except that it is never unpacked.
//!
//! The file's name in a destination directory comes from the URL's path (its last segment),
//! else from a `Content-Disposition: …; filename=` answer; without either, the destination
//! must name the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Response, Uri};
use tokio::io::AsyncWriteExt;

/// Redirects followed before giving up (Go's HTTP client stops after 10 too).
const MAX_REDIRECTS: usize = 10;

/// How long the server may stay silent in the middle of a body.
const BODY_TIMEOUT: Duration = Duration::from_secs(120);

/// The name a download gets when neither the URL nor the answer names it (the destination
/// then names the file).
pub const UNNAMED: &str = "__unnamed__";

/// A downloaded file.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// Where it is on disk (inside the build's workspace).
    pub file: PathBuf,
    /// Its name in a destination directory; `None` when nothing names it.
    pub name: Option<String>,
}

/// Whether a source of `ADD` is a URL (the classic builder's test: an `http://` or
/// `https://` prefix).
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Checks that `url` is an absolute `http`/`https` URL with a host.
fn parse(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(h)) if !h.is_empty() => Ok(uri),
        _ => Err(format!("invalid URL {url:?}: an http or https URL with a host is expected")),
    }
}

/// The last segment of a URL path, percent-decoded; `None` for an empty path or one ending
/// in `/`.
pub fn name_from_path(path: &str) -> Option<String> {
    if path.is_empty() || path.ends_with('/') {
        return None;
    }
    let last = path.rsplit('/').next()?;
    let decoded = percent_encoding::percent_decode_str(last).decode_utf8_lossy().into_owned();
    Some(decoded).filter(|n| !n.is_empty() && n != "." && n != ".." && !n.contains('/'))
}

/// The `filename` parameter of a `Content-Disposition` header, reduced to its last path
/// segment.
pub fn name_from_disposition(header: &str) -> Option<String> {
    for param in header.split(';').skip(1) {
        let Some((k, v)) = param.split_once('=') else { continue };
        if !k.trim().eq_ignore_ascii_case("filename") {
            continue;
        }
        let v = v.trim().trim_matches('"');
        if v.ends_with('/') {
            return None;
        }
        return v.rsplit('/').next().map(String::from).filter(|n| !n.is_empty() && n != "." && n != "..");
    }
    None
}

/// `Last-Modified` (an HTTP date) as Unix seconds; `None` when absent or unreadable.
pub fn last_modified(header: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(header.trim()).ok().map(|t| t.timestamp())
}

/// Follows redirects from `url` up to a final answer, which must be a success.
async fn get(client: &berth_registry::client::RegistryClient, url: &str) -> Result<Response<Incoming>, String> {
    let mut current = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let uri = parse(&current)?;
        let resp = client.get_url(&current).await.map_err(|e| format!("failed to GET {current}: {e}"))?;
        let status = resp.status();
        if status.is_redirection() {
            let location = resp.headers().get(hyper::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if location.is_empty() {
                return Err(format!("failed to GET {current}: redirect ({status}) without a Location"));
            }
            current = resolve(&uri, location);
            continue;
        }
        if !status.is_success() {
            return Err(format!("failed to GET {current} with status {status}"));
        }
        return Ok(resp);
    }
    Err(format!("failed to GET {url}: stopped after {MAX_REDIRECTS} redirects"))
}

/// A `Location` relative to the URL that answered it.
fn resolve(base: &Uri, location: &str) -> String {
    if is_url(location) {
        return location.to_string();
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let dir = base.path().rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    format!("{scheme}://{authority}{dir}/{location}")
}

/// Downloads `url` into `dir` (which must be empty and private to this step).
pub async fn download(client: &berth_registry::client::RegistryClient, url: &str, dir: &Path) -> Result<Downloaded, String> {
    let uri = parse(url)?;
    let resp = get(client, url).await?;
    let header = |name: hyper::header::HeaderName| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(String::from);
    let name = name_from_path(uri.path()).or_else(|| header(hyper::header::CONTENT_DISPOSITION).as_deref().and_then(name_from_disposition));
    let mtime = header(hyper::header::LAST_MODIFIED).as_deref().and_then(last_modified).unwrap_or(0);
    let file = dir.join(name.as_deref().unwrap_or(UNNAMED));
    let mut out = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
        .await
        .map_err(|e| format!("download {url}: create {}: {e}", file.display()))?;
    let mut body = resp.into_body();
    loop {
        let frame = match tokio::time::timeout(BODY_TIMEOUT, body.frame()).await {
            Err(_) => return Err(format!("download {url}: timed out reading the body")),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(format!("download {url}: {e}")),
            Ok(Some(Ok(f))) => f,
        };
        if let Some(data) = frame.data_ref() {
            out.write_all(data).await.map_err(|e| format!("download {url}: write: {e}"))?;
        }
    }
    out.flush().await.map_err(|e| format!("download {url}: write: {e}"))?;
    let std_file = out.into_std().await;
    let time = std::time::UNIX_EPOCH + Duration::from_secs(mtime.max(0) as u64);
    std_file.set_times(std::fs::FileTimes::new().set_modified(time).set_accessed(time)).map_err(|e| format!("download {url}: set times: {e}"))?;
    Ok(Downloaded { file, name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_path_then_the_disposition() {
        assert_eq!(name_from_path("/dir/file.txt").as_deref(), Some("file.txt"));
        assert_eq!(name_from_path("/dir/a%20b").as_deref(), Some("a b"));
        assert_eq!(name_from_path("/dir/"), None);
        assert_eq!(name_from_path(""), None);
        assert_eq!(name_from_path("/a/.."), None);
        assert_eq!(name_from_disposition("attachment; filename=\"x.tgz\"").as_deref(), Some("x.tgz"));
        assert_eq!(name_from_disposition("attachment; filename=../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(name_from_disposition("attachment"), None);
    }

    #[test]
    fn urls_and_dates_are_checked() {
        assert!(parse("http://127.0.0.1:8080/x").is_ok());
        assert!(parse("http:///x").is_err());
        assert!(parse("ftp://host/x").is_err());
        assert_eq!(last_modified("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784111777));
        assert_eq!(last_modified("yesterday"), None);
        let base: Uri = "http://h:1/a/b/c".parse().expect("uri");
        assert_eq!(resolve(&base, "/x"), "http://h:1/x");
        assert_eq!(resolve(&base, "y"), "http://h:1/a/b/y");
        assert_eq!(resolve(&base, "https://o/z"), "https://o/z");
    }
}
