//! `pull`, `push`, `login`, `logout`, and the credentials in `config.json` that docker keeps
//! (`{"auths":{"host":{"auth":"base64(user:pass)"}}}`), sent as `X-Registry-Auth`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use base64::Engine;
use berth_api::client::{empty, query};
use berth_image::Reference;
use clap::Args;
use hyper::Method;
use serde_json::{json, Value};

use super::error::{CliError, Result};
use super::{progress, Ctx};

/// The config key docker uses for Docker Hub.
pub const HUB_SERVER: &str = "https://index.docker.io/v1/";

/// `berth pull`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth pull [OPTIONS] NAME[:TAG|@DIGEST]")]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Skip image verification
    #[arg(long = "disable-content-trust", hide = true)]
    pub disable_content_trust: bool,
    /// The image
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `berth push`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth push [OPTIONS] NAME[:TAG]")]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Push a platform-specific manifest
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Skip image signing
    #[arg(long = "disable-content-trust", hide = true)]
    pub disable_content_trust: bool,
    /// The image
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `berth login`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth login [OPTIONS] [SERVER]")]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long = "username", value_name = "string")]
    pub username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long = "password", value_name = "string")]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Registry server
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

/// `berth logout`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth logout [SERVER]")]
pub struct LogoutArgs {
    /// Registry server
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

fn parse_ref(name: &str) -> Result<Reference> {
    Reference::parse(name).map_err(|e| CliError::msg(e.to_string()))
}

/// `busybox` → `busybox:latest`, as docker prints it in "Unable to find image".
pub fn familiar_tagged(image: &str) -> String {
    Reference::parse_tagged(image).map(|r| r.familiar()).unwrap_or_else(|_| image.to_string())
}

/// The config key of a registry domain.
pub fn server_key(domain: &str) -> String {
    if domain == berth_image::reference::DEFAULT_DOMAIN || domain == "index.docker.io" {
        HUB_SERVER.to_string()
    } else {
        domain.to_string()
    }
}

fn config_path(dir: &Path) -> std::path::PathBuf {
    dir.join("config.json")
}

fn read_config(dir: &Path) -> Value {
    std::fs::read(config_path(dir)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_else(|| json!({}))
}

fn write_config(dir: &Path, config: &Value) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = config_path(dir);
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(config)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

/// The `X-Registry-Auth` value for `server`: base64url of `{username,password,serveraddress}`,
/// or `e30=` (`{}`) without stored credentials.
pub fn registry_auth(config_dir: &Path, server: &str) -> String {
    let config = read_config(config_dir);
    let auth = config["auths"][server]["auth"].as_str().unwrap_or("");
    let decoded = base64::engine::general_purpose::STANDARD.decode(auth).ok().and_then(|b| String::from_utf8(b).ok());
    let body = match decoded.as_deref().and_then(|s| s.split_once(':')) {
        Some((user, pass)) => json!({"username": user, "password": pass, "serveraddress": server}),
        None => json!({}),
    };
    base64::engine::general_purpose::URL_SAFE.encode(body.to_string())
}

async fn pull_stream(ctx: &Ctx, r: &Reference, platform: Option<&str>, to_stderr: bool, quiet: bool) -> Result<()> {
    let tag = r.digest.clone().or_else(|| r.tag.clone()).unwrap_or_else(|| "latest".into());
    let path = format!("/images/create{}", query(&[("fromImage", r.repository()), ("tag", tag), ("platform", platform.unwrap_or("").to_string())]));
    let auth = registry_auth(&ctx.config_dir, &server_key(&r.domain));
    let resp = ctx.client.call(Method::POST, &path, empty(), &[("X-Registry-Auth", &auth)]).await?;
    if to_stderr {
        progress::render(resp, std::io::stderr(), std::io::stderr().is_terminal(), quiet).await?;
    } else {
        progress::render(resp, std::io::stdout(), std::io::stdout().is_terminal(), quiet).await?;
    }
    Ok(())
}

/// The pull `run` and `create` do for a missing image (progress on stderr).
pub async fn pull_for_run(ctx: &Ctx, image: &str, platform: Option<&str>, quiet: bool) -> Result<()> {
    let mut r = parse_ref(image)?;
    if r.tag.is_none() && r.digest.is_none() {
        r.tag = Some("latest".into());
    }
    pull_stream(ctx, &r, platform, true, quiet).await
}

/// `berth pull`.
pub async fn pull(ctx: &Ctx, a: PullArgs) -> Result<i32> {
    let mut r = parse_ref(&a.name)?;
    if r.tag.is_none() && r.digest.is_none() && !a.all_tags {
        if !a.quiet {
            println!("Using default tag: latest");
        }
        r.tag = Some("latest".into());
    }
    pull_stream(ctx, &r, a.platform.as_deref(), false, a.quiet).await?;
    println!("{r}");
    Ok(0)
}

/// `berth push`.
pub async fn push(ctx: &Ctx, a: PushArgs) -> Result<i32> {
    let r = parse_ref(&a.name)?;
    let tag = match (&r.tag, a.all_tags) {
        (Some(t), _) => t.clone(),
        (None, true) => String::new(),
        (None, false) => {
            if !a.quiet {
                println!("Using default tag: latest");
            }
            "latest".into()
        }
    };
    let auth = registry_auth(&ctx.config_dir, &server_key(&r.domain));
    let path = format!("/images/{}/push{}", r.familiar_repository(), query(&[("tag", tag.clone()), ("platform", a.platform.clone().unwrap_or_default())]));
    let resp = ctx.client.call(Method::POST, &path, empty(), &[("X-Registry-Auth", &auth)]).await?;
    progress::render(resp, std::io::stdout(), std::io::stdout().is_terminal(), a.quiet).await?;
    if a.quiet {
        println!("{}", r.with_tag(if tag.is_empty() { "latest" } else { &tag }));
    }
    Ok(0)
}

fn prompt(label: &str, echo: bool) -> Result<String> {
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let guard = (!echo).then(NoEcho::enter).flatten();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if guard.is_some() {
        eprintln!();
    }
    drop(guard);
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Turns off terminal echo on stdin while a password is typed.
struct NoEcho {
    saved: rustix::termios::Termios,
}

impl NoEcho {
    fn enter() -> Option<Self> {
        use std::os::fd::AsFd;
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        rustix::termios::tcsetattr(stdin.as_fd(), rustix::termios::OptionalActions::Now, &quiet).ok()?;
        Some(Self { saved })
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        use std::os::fd::AsFd;
        let _ = rustix::termios::tcsetattr(std::io::stdin().as_fd(), rustix::termios::OptionalActions::Now, &self.saved);
    }
}

fn login_server(arg: Option<&str>) -> String {
    match arg {
        None => HUB_SERVER.to_string(),
        Some(s) => {
            let host = s.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
            let host = host.split('/').next().unwrap_or(host);
            server_key(host)
        }
    }
}

/// `berth login`: checks the credentials with `POST /auth` and stores them.
pub async fn login(ctx: &Ctx, a: LoginArgs) -> Result<i32> {
    let server = login_server(a.server.as_deref());
    let mut password = a.password.clone();
    if a.password_stdin {
        if password.is_some() {
            return Err(CliError::msg("--password and --password-stdin are mutually exclusive"));
        }
        if a.username.is_none() {
            return Err(CliError::msg("Must provide --username with --password-stdin"));
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        password = Some(text.trim_end_matches(['\n', '\r']).to_string());
    } else if password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let username = match a.username.clone() {
        Some(u) => u,
        None => prompt("Username: ", true)?,
    };
    if username.is_empty() {
        return Err(CliError::msg("Error: Non-null Username Required"));
    }
    let password = match password {
        Some(p) => p,
        None => prompt("Password: ", false)?,
    };
    if password.is_empty() {
        return Err(CliError::msg("Error: Password Required"));
    }
    let body = json!({"username": username, "password": password, "serveraddress": server});
    let answer: Value = ctx.client.post("/auth", Some(&body)).await?;
    let mut config = read_config(&ctx.config_dir);
    if !config.is_object() {
        config = json!({});
    }
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    config["auths"][server.as_str()] = json!({"auth": auth});
    write_config(&ctx.config_dir, &config)?;
    eprintln!("WARNING! Your credentials are stored unencrypted in '{}'.", config_path(&ctx.config_dir).display());
    println!("{}", answer["Status"].as_str().unwrap_or("Login Succeeded"));
    Ok(0)
}

/// `berth logout`: removes the stored credentials.
pub async fn logout(ctx: &Ctx, a: LogoutArgs) -> Result<i32> {
    let server = login_server(a.server.as_deref());
    let mut config = read_config(&ctx.config_dir);
    let removed = config.get_mut("auths").and_then(|a| a.as_object_mut()).and_then(|a| a.remove(&server)).is_some();
    if !removed {
        println!("Not logged in to {server}");
        return Ok(0);
    }
    println!("Removing login credentials for {server}");
    write_config(&ctx.config_dir, &config)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_header_from_config() {
        let dir = std::env::temp_dir().join(format!("berth-auth-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        assert_eq!(registry_auth(&dir, "localhost:5000"), "e30=");
        let auth = base64::engine::general_purpose::STANDARD.encode("u:p");
        let _ = write_config(&dir, &json!({"auths": {"localhost:5000": {"auth": auth}}}));
        let header = registry_auth(&dir, "localhost:5000");
        let decoded = base64::engine::general_purpose::URL_SAFE.decode(header).unwrap_or_default();
        let v: Value = serde_json::from_slice(&decoded).unwrap_or_default();
        assert_eq!(v, json!({"username": "u", "password": "p", "serveraddress": "localhost:5000"}));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn servers_and_names() {
        assert_eq!(login_server(None), HUB_SERVER);
        assert_eq!(login_server(Some("localhost:5000")), "localhost:5000");
        assert_eq!(login_server(Some("https://reg.example.com/v2/")), "reg.example.com");
        assert_eq!(login_server(Some("docker.io")), HUB_SERVER);
        assert_eq!(familiar_tagged("busybox"), "busybox:latest");
        assert_eq!(familiar_tagged("localhost:5000/a/b:1"), "localhost:5000/a/b:1");
    }
}
