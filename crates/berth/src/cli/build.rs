//! `build` with the classic builder: the context directory becomes a tar (honouring
//! `.dockerignore`, owners zeroed like docker's), written by a thread while it is streamed
//! to `POST /build` ([`body`]); on a terminal the
//! stream is shown as a compact live view ([`view`]), elsewhere its lines are printed as
//! `docker build` prints them; a failed step's `errorDetail.code` becomes the exit code.

mod body;
mod view;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use berth_api::client::{empty, full, query};
use berth_build::DockerIgnore;
use clap::Args;
use hyper::Method;
use serde_json::Value;

use super::error::{CliError, Result};
use super::{opts, progress, Ctx};

/// `berth build`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth build [OPTIONS] PATH | URL | -")]
pub struct BuildArgs {
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list")]
    pub build_arg: Vec<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from", value_name = "strings")]
    pub cache_from: Vec<String>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file", value_name = "string")]
    pub file: Option<String>,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Write the image ID to the file
    #[arg(long = "iidfile", value_name = "string")]
    pub iidfile: Option<String>,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long = "network", value_name = "string", default_value = "default")]
    pub network: String,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Always attempt to pull a newer version of the image
    #[arg(long = "pull")]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Remove intermediate containers after a successful build
    #[arg(long = "rm", value_name = "bool", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub rm: bool,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes", value_parser = opts::parse_ram)]
    pub shm_size: Option<i64>,
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_name = "list")]
    pub tag: Vec<String>,
    /// Set the target build stage to build
    #[arg(long = "target", value_name = "string")]
    pub target: Option<String>,
    /// Build context: a directory, a URL, or - for stdin
    #[arg(value_name = "PATH | URL | -")]
    pub context: String,
}

fn lookup_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Builds the `/build` query like docker CLI 28 (legacy builder).
pub fn build_query(a: &BuildArgs, dockerfile: &str, remote: Option<&str>) -> Result<String> {
    let b = |on: bool| if on { "1".to_string() } else { String::new() };
    let mut args: BTreeMap<String, Value> = BTreeMap::new();
    for v in &a.build_arg {
        let v = opts::env_value(v, &lookup_env).map_err(CliError::Msg)?;
        match v.split_once('=') {
            Some((k, val)) => args.insert(k.to_string(), Value::String(val.to_string())),
            None => args.insert(v, Value::Null),
        };
    }
    let labels = opts::kv_map(&a.label);
    let mut pairs: Vec<(&str, String)> = a.tag.iter().map(|t| ("t", t.clone())).collect();
    pairs.extend([
        ("remote", remote.unwrap_or_default().to_string()),
        ("dockerfile", dockerfile.to_string()),
        ("q", b(a.quiet)),
        ("nocache", b(a.no_cache)),
        ("rm", if a.rm { String::new() } else { "0".into() }),
        ("forcerm", b(a.force_rm)),
        ("pull", b(a.pull)),
        ("target", a.target.clone().unwrap_or_default()),
        ("networkmode", if a.network == "default" { String::new() } else { a.network.clone() }),
        ("platform", a.platform.clone().unwrap_or_default()),
        ("shmsize", a.shm_size.map(|s| s.to_string()).unwrap_or_default()),
        ("buildargs", if args.is_empty() { String::new() } else { serde_json::to_string(&args)? }),
        ("labels", if labels.is_empty() { String::new() } else { serde_json::to_string(&labels)? }),
        ("cachefrom", if a.cache_from.is_empty() { String::new() } else { serde_json::to_string(&a.cache_from)? }),
        ("extrahosts", a.add_host.join(",")),
        ("version", "1".into()),
    ]);
    Ok(query(&pairs))
}

fn random_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!(".dockerfile.{:012x}", (nanos ^ (std::process::id() as u128) << 20) & 0xffff_ffff_ffff)
}

/// A tar header for `meta` with owners zeroed, as docker sends build contexts.
fn header_for(meta: &std::fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    h.set_uid(0);
    h.set_gid(0);
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    h
}

/// Appends the context directory (minus ignored paths) to `b`.
fn add_dir<W: std::io::Write>(b: &mut tar::Builder<W>, root: &Path, rel: &str, ignore: &DockerIgnore, keep: &[String]) -> Result<()> {
    let dir = if rel.is_empty() { root.to_path_buf() } else { root.join(rel) };
    let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let meta = std::fs::symlink_metadata(e.path())?;
        let kept = keep.contains(&path);
        if meta.is_dir() {
            if !kept && ignore.can_skip_dir(&path) {
                continue;
            }
            if kept || !ignore.matches(&path) {
                let mut h = header_for(&meta);
                b.append_data(&mut h, format!("{path}/"), std::io::empty())?;
            }
            add_dir(b, root, &path, ignore, keep)?;
            continue;
        }
        if !kept && ignore.matches(&path) {
            continue;
        }
        let mut h = header_for(&meta);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(e.path())?;
            b.append_link(&mut h, &path, target)?;
        } else if meta.is_file() {
            let f = std::fs::File::open(e.path()).map_err(|err| CliError::msg(format!("error checking context: can't stat '{path}': {err}")))?;
            b.append_data(&mut h, &path, f)?;
        }
    }
    Ok(())
}

fn append_file<W: std::io::Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o600);
    h.set_mtime(crate::cli::format::now_unix() as u64);
    b.append_data(&mut h, name, data)?;
    Ok(())
}

/// The context tar of `dir` with the Dockerfile given as `(name in tar, extra content)`.
/// An extra Dockerfile (stdin, or outside the context) is also listed, with
/// `.dockerignore` itself, in the `.dockerignore` sent along, so the daemon drops both
/// from the context and `COPY . .` does not pick them up (as docker's CLI does).
pub fn context_tar<W: std::io::Write>(out: W, dir: &Path, dockerfile: &str, extra: Option<(&str, &[u8])>) -> Result<W> {
    let ignore_text = std::fs::read_to_string(dir.join(".dockerignore")).unwrap_or_default();
    let mut ignore = DockerIgnore::parse(&ignore_text).map_err(|e| CliError::msg(e.to_string()))?;
    let mut keep = vec![dockerfile.to_string()];
    if extra.is_some() {
        let text = format!("{ignore_text}\n.dockerignore\n");
        ignore = DockerIgnore::parse(&text).map_err(|e| CliError::msg(e.to_string()))?;
    } else {
        keep.push(".dockerignore".to_string());
    }
    let mut b = tar::Builder::new(out);
    add_dir(&mut b, dir, "", &ignore, &keep)?;
    if let Some((name, data)) = extra {
        append_file(&mut b, name, data)?;
        append_file(&mut b, ".dockerignore", format!("{ignore_text}\n.dockerignore\n{name}\n").as_bytes())?;
    }
    Ok(b.into_inner()?)
}

fn is_tar(data: &[u8]) -> bool {
    data.len() > 262 && &data[257..262] == b"ustar"
        || data.starts_with(&[0x1f, 0x8b])
        || data.starts_with(b"BZh")
        || data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z'])
}

/// What is sent as the request body.
enum Payload {
    /// Nothing (a remote context).
    None,
    /// A tar already in memory (from stdin).
    Tar(Vec<u8>),
    /// A context directory, tarred while it is sent; `extra` is a Dockerfile from elsewhere
    /// added under the given name.
    Dir { dir: PathBuf, name: String, extra: Option<Vec<u8>> },
}

/// Works out the body and the `dockerfile` parameter for the context argument.
fn prepare(a: &BuildArgs) -> Result<(Payload, String, Option<String>)> {
    if a.context.starts_with("http://") || a.context.starts_with("https://") || a.context.starts_with("git@") || a.context.starts_with("git://") {
        return Ok((Payload::None, a.file.clone().unwrap_or_default(), Some(a.context.clone())));
    }
    if a.context == "-" {
        if a.file.as_deref() == Some("-") {
            return Err(CliError::msg("invalid argument: can't use stdin for both build context and dockerfile"));
        }
        let mut data = Vec::new();
        std::io::stdin().read_to_end(&mut data)?;
        if is_tar(&data) {
            return Ok((Payload::Tar(data), a.file.clone().unwrap_or_default(), None));
        }
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        b.append_data(&mut h, "Dockerfile", data.as_slice())?;
        return Ok((Payload::Tar(b.into_inner()?), "Dockerfile".into(), None));
    }
    let dir = PathBuf::from(&a.context);
    if !dir.is_dir() {
        return Err(CliError::msg(format!("unable to prepare context: path {:?} not found", a.context)));
    }
    let (name, extra) = match a.file.as_deref() {
        Some("-") => {
            let mut text = Vec::new();
            std::io::stdin().read_to_end(&mut text)?;
            (random_name(), Some(text))
        }
        Some(f) => {
            let path = std::path::absolute(f)?;
            let root = std::path::absolute(&dir)?;
            match path.strip_prefix(&root) {
                Ok(rel) if path.exists() => (rel.to_string_lossy().to_string(), None),
                _ => {
                    let text = std::fs::read(&path).map_err(|e| {
                        CliError::msg(format!(
                            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: {}",
                            path.display(),
                            opts::io_text(&e)
                        ))
                    })?;
                    (random_name(), Some(text))
                }
            }
        }
        None => {
            let p = dir.join("Dockerfile");
            if !p.exists() {
                let abs = std::path::absolute(&p).unwrap_or(p);
                return Err(CliError::msg(format!(
                    "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                    abs.display()
                )));
            }
            ("Dockerfile".to_string(), None)
        }
    };
    Ok((Payload::Dir { dir, name: name.clone(), extra }, name, None))
}

/// `berth build`.
pub async fn run(ctx: &Ctx, a: BuildArgs) -> Result<i32> {
    let args = a.clone();
    let (payload, dockerfile, remote) = tokio::task::spawn_blocking(move || prepare(&args)).await.map_err(|e| CliError::msg(e.to_string()))??;
    let q = build_query(&a, &dockerfile, remote.as_deref())?;
    let (body, sent) = match payload {
        Payload::None => (empty(), None),
        Payload::Tar(tar) => {
            let n = tar.len() as u64;
            (full(tar), Some(body::Sent::done(n)))
        }
        Payload::Dir { dir, name, extra } => {
            let (body, sent) = body::stream(move |w| context_tar(w, &dir, &name, extra.as_deref().map(|d| (name.as_str(), d))).map(drop));
            (body, Some(sent))
        }
    };
    let registry_config = registry_config(&ctx.config_dir);
    let headers = [("Content-Type", "application/x-tar"), ("X-Registry-Config", registry_config.as_str())];
    let resp = ctx.client.call(Method::POST, &format!("/build{q}"), body, &headers).await;
    // The daemon answers once it has read the whole context: a context that could not be
    // read is reported as such rather than as whatever the daemon made of the cut stream.
    if let Some(sent) = &sent {
        sent.result().await?;
        if !a.quiet {
            println!("Sending build context to Docker daemon  {}", super::format::human_size(sent.bytes() as f64));
        }
    }
    let resp = resp?;
    let (aux, quiet_id) = match terminal_width() {
        _ if a.quiet => {
            // The daemon sends only the id (no aux) in quiet mode: print it and keep it.
            let mut buf = Vec::new();
            let result = progress::render(resp, &mut buf, false, false).await;
            std::io::Write::write_all(&mut std::io::stdout(), &buf)?;
            (result?, Some(String::from_utf8_lossy(&buf).trim().to_string()))
        }
        Some(width) => (live(resp, width).await?, None),
        None => (progress::render(resp, std::io::stdout(), false, false).await?, None),
    };
    if let Some(file) = &a.iidfile {
        let from_aux = aux.iter().rev().find_map(|v| v["ID"].as_str().map(String::from));
        let id = from_aux
            .or(quiet_id)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| CliError::msg(format!("Server did not provide an image ID. Cannot write {file}")))?;
        std::fs::write(file, id).map_err(|e| CliError::msg(format!("failed to write image ID to file: {e}")))?;
    }
    Ok(0)
}

/// The `X-Registry-Config` header: every credential stored in `config.json` (as docker's CLI
/// sends them, since any base image may need one), base64url of `{server: auth config}`.
fn registry_config(config_dir: &Path) -> String {
    use base64::Engine as _;
    let config: Value = std::fs::read(config_dir.join("config.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for (server, entry) in config["auths"].as_object().into_iter().flatten() {
        let auth = entry["auth"].as_str().unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD.decode(auth).ok().and_then(|b| String::from_utf8(b).ok());
        if let Some((user, pass)) = decoded.as_deref().and_then(|s| s.split_once(':')) {
            out.insert(server.clone(), serde_json::json!({"username": user, "password": pass, "serveraddress": server}));
        }
    }
    base64::engine::general_purpose::URL_SAFE.encode(Value::Object(out).to_string())
}

/// The width of the terminal stdout is, if it is one.
fn terminal_width() -> Option<usize> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    let ws = rustix::termios::tcgetwinsize(std::os::fd::AsFd::as_fd(&out)).ok()?;
    Some(if ws.ws_col > 0 { usize::from(ws.ws_col) } else { 80 })
}

/// Shows the stream in the compact live view, ticking the running step's timer.
async fn live(resp: hyper::Response<hyper::body::Incoming>, width: usize) -> Result<Vec<Value>> {
    let mut body = resp.into_body();
    let mut split = progress::JsonSplitter::default();
    let mut view = view::BuildView::new(std::io::stdout(), width);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tokio::select! {
            chunk = progress::next_chunk(&mut body) => {
                let Some(chunk) = chunk? else { break };
                for msg in split.push::<berth_api::types::JsonMessage>(&chunk) {
                    let msg = msg.map_err(|e| CliError::msg(format!("unexpected answer from daemon: {e}")))?;
                    view.handle(&msg)?;
                }
            }
            _ = tick.tick() => view.redraw()?,
        }
    }
    view.finish()?;
    Ok(view.aux)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: BuildArgs,
    }

    #[test]
    fn query_like_docker() {
        let t = T::try_parse_from(["build", "-t", "a:b", "-t", "c", "--build-arg", "X=1", "--label", "l=v", "--no-cache", "--target", "s1", "."]);
        let q = t.map_err(|e| CliError::msg(e.to_string())).and_then(|t| build_query(&t.a, "Dockerfile", None)).unwrap_or_default();
        assert!(q.starts_with("?t=a%3Ab&t=c&dockerfile=Dockerfile"), "{q}");
        assert!(q.contains("nocache=1") && !q.contains("rm=") && q.contains("target=s1") && q.contains("version=1"));
        assert!(q.contains("buildargs=%7B%22X%22%3A%221%22%7D"));
        assert!(q.contains("labels=%7B%22l%22%3A%22v%22%7D"));
    }

    #[test]
    fn registry_config_carries_every_stored_login() {
        use base64::Engine as _;
        let dir = std::env::temp_dir().join(format!("berth-build-auths-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3:cret");
        let _ = std::fs::write(dir.join("config.json"), format!(r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{auth}"}},"empty":{{}}}}}}"#));
        let header = registry_config(&dir);
        let json = base64::engine::general_purpose::URL_SAFE.decode(header).unwrap_or_default();
        let v: Value = serde_json::from_slice(&json).unwrap_or_default();
        assert_eq!(v, serde_json::json!({"127.0.0.1:5000": {"username": "alice", "password": "s3:cret", "serveraddress": "127.0.0.1:5000"}}));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(registry_config(&dir), "e30=");
    }

    #[test]
    fn context_honours_dockerignore() {
        let dir = std::env::temp_dir().join(format!("berth-build-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("node_modules/x"));
        let _ = std::fs::create_dir_all(dir.join("src"));
        let _ = std::fs::write(dir.join("Dockerfile"), "FROM scratch\n");
        let _ = std::fs::write(dir.join(".dockerignore"), "node_modules\n*.log\nDockerfile\n");
        let _ = std::fs::write(dir.join("node_modules/x/a"), "x");
        let _ = std::fs::write(dir.join("src/main.rs"), "fn main(){}");
        let _ = std::fs::write(dir.join("debug.log"), "log");
        let tar = context_tar(Vec::new(), &dir, "Dockerfile", None).unwrap_or_default();
        let mut names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .map(|es| es.filter_map(|e| e.ok().and_then(|e| e.path().ok().map(|p| p.display().to_string()))).collect())
            .unwrap_or_default();
        names.sort();
        assert_eq!(names, [".dockerignore", "Dockerfile", "src/", "src/main.rs"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
