//! Parsers for docker's option values: sizes, CPUs, durations, ports, env and label files,
//! restart policies, `--mount` and `-v` specs. Pure functions, errors worded like docker's.

use std::collections::BTreeMap;

use berth_api::types::PortBinding;
use serde_json::{json, Map, Value};

/// Looks a variable up in our environment (`-e K`, env files).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `go-units.RAMInBytes`: `512m`, `1g`, `1.5GiB`, `100` (binary multiples).
pub fn parse_ram(s: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{s}'");
    let digits_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, mut unit) = s.split_at(digits_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(invalid());
    }
    let value: f64 = num.parse().map_err(|_| invalid())?;
    unit = unit.strip_prefix(' ').unwrap_or(unit);
    let mut chars = unit.chars();
    let mult: f64 = match chars.next().map(|c| c.to_ascii_lowercase()) {
        None => 1.0,
        Some('b') if chars.as_str().is_empty() => 1.0,
        Some(c) => {
            let exp = match c {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                'p' => 5,
                _ => return Err(invalid()),
            };
            let rest = chars.as_str().to_ascii_lowercase();
            if !matches!(rest.as_str(), "" | "b" | "i" | "ib") {
                return Err(invalid());
            }
            1024f64.powi(exp)
        }
    };
    Ok((value * mult) as i64)
}

/// `--memory-swap`: a size, or `-1` for unlimited.
pub fn parse_swap(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    parse_ram(s)
}

/// `--cpus` into nano CPUs (`1.5` is 1500000000).
pub fn parse_cpus(s: &str) -> Result<i64, String> {
    let bad = || format!("failed to parse {s} as a rational number");
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if (int.is_empty() && frac.is_empty()) || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let frac_trimmed = frac.trim_end_matches('0');
    if frac_trimmed.len() > 9 {
        return Err("value is too precise".into());
    }
    let whole: i64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
    let nanos: i64 = format!("{frac_trimmed:0<9}").parse().map_err(|_| bad())?;
    let total = whole.checked_mul(1_000_000_000).and_then(|w| w.checked_add(nanos)).ok_or_else(bad)?;
    Ok(if neg { -total } else { total })
}

/// A Go duration (`30s`, `1m30s`) in nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    berth_build::parse_duration(s).ok_or_else(|| format!("time: invalid duration \"{s}\""))
}

/// Docker's `ValidateEnv`: `K=V` as is, `K` takes the value from our environment if set.
pub fn env_value(val: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let (k, has_value) = match val.split_once('=') {
        Some((k, _)) => (k, true),
        None => (val, false),
    };
    if k.is_empty() {
        return Err(format!("invalid environment variable: {val}"));
    }
    if has_value {
        return Ok(val.to_string());
    }
    Ok(lookup(k).map_or_else(|| val.to_string(), |v| format!("{k}={v}")))
}

/// Parses the text of an env or label file (`K=V` lines, `#` comments). A line without `=`
/// takes its value from `lookup` and is dropped when that has none.
pub fn parse_kv_file(name: &str, text: &str, lookup: Option<Lookup<'_>>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (var, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim_start(), Some(v)),
            None => (line, None),
        };
        if var.contains(char::is_whitespace) {
            return Err(format!("poorly formatted environment: variable '{var}' contains whitespaces"));
        }
        if var.is_empty() {
            return Err(format!("poorly formatted environment: no variable name on line '{line}' in {name}"));
        }
        match (value, lookup) {
            (Some(v), _) => out.push(format!("{var}={v}")),
            (None, Some(f)) => {
                if let Some(v) = f(var) {
                    out.push(format!("{var}={v}"));
                }
            }
            (None, None) => {}
        }
    }
    Ok(out)
}

/// Reads env files, then applies `-e` values (files first, like docker).
pub fn read_env(files: &[String], values: &[String], lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("open {f}: {}", io_text(&e)))?;
        out.extend(parse_kv_file(f, &text, Some(lookup))?);
    }
    for v in values {
        out.push(env_value(v, lookup)?);
    }
    Ok(out)
}

/// Reads label files and `-l` values into a map (`k` alone is `k=""`).
pub fn read_labels(files: &[String], values: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut all = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("open {f}: {}", io_text(&e)))?;
        all.extend(parse_kv_file(f, &text, None)?);
    }
    all.extend(values.iter().cloned());
    Ok(kv_map(&all))
}

/// `k=v` strings into a map; `k` alone maps to "".
pub fn kv_map(values: &[String]) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (v.clone(), String::new()),
        })
        .collect()
}

/// An OS error worded like Go's (`no such file or directory`).
pub fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn port_range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().ok()?;
    let b: u16 = b.parse().ok()?;
    (a <= b).then_some((a as u32, b as u32))
}

fn split_proto(s: &str) -> (&str, String) {
    match s.split_once('/') {
        Some((p, "")) => (p, "tcp".into()),
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (s, "tcp".into()),
    }
}

/// Docker's long `-p` syntax (`target=80,published=8080,protocol=udp,host_ip=...`).
fn long_port_syntax(raw: &str) -> Result<String, String> {
    let (mut ip, mut published, mut target, mut proto) = (String::new(), String::new(), String::new(), "tcp".to_string());
    for field in raw.split(',') {
        let (k, v) = field.split_once('=').ok_or_else(|| format!("invalid field {field}"))?;
        match k.to_ascii_lowercase().as_str() {
            "published" => published = v.into(),
            "target" => target = v.into(),
            "protocol" => proto = v.into(),
            "host_ip" => ip = v.into(),
            "mode" => {}
            _ => return Err(format!("invalid field key {k}")),
        }
    }
    if target.is_empty() {
        return Err("missing target field".into());
    }
    let ip = if ip.contains(':') { format!("[{ip}]") } else { ip };
    Ok(match (ip.is_empty(), published.is_empty()) {
        (true, true) => format!("{target}/{proto}"),
        (true, false) => format!("{published}:{target}/{proto}"),
        (false, _) => format!("{ip}:{published}:{target}/{proto}"),
    })
}

/// One `-p` spec into `(port/proto, binding)` pairs, like `nat.ParsePortSpec`.
pub fn parse_port_spec(raw: &str) -> Result<Vec<(String, PortBinding)>, String> {
    let owned;
    let raw = if raw.contains('=') {
        owned = long_port_syntax(raw)?;
        owned.as_str()
    } else {
        raw
    };
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1];
    let (mut ip, host) = match n {
        1 => (String::new(), ""),
        2 => (String::new(), parts[0]),
        3 => (parts[0].to_string(), parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2]),
    };
    let (container, proto) = split_proto(container);
    if let Some(inner) = ip.strip_prefix('[') {
        ip = inner.strip_suffix(']').ok_or_else(|| format!("invalid IP address {ip}"))?.to_string();
    }
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) = port_range(container).ok_or_else(|| format!("invalid containerPort: {container}"))?;
    let (hstart, hend) = if host.is_empty() { (0, 0) } else { port_range(host).ok_or_else(|| format!("invalid hostPort: {host}"))? };
    if !host.is_empty() && end - start != hend - hstart && end != start {
        return Err(format!("invalid ranges specified for container and host Ports: {container} and {host}"));
    }
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let count = end - start + 1;
    Ok((0..count)
        .map(|i| {
            let mut host_port = String::new();
            if !host.is_empty() {
                host_port = (hstart + i).to_string();
                if count == 1 && hstart != hend {
                    host_port = format!("{host_port}-{hend}");
                }
            }
            (format!("{}/{proto}", start + i), PortBinding { host_ip: ip.clone(), host_port })
        })
        .collect())
}

/// Exposed ports and bindings from `-p` and `--expose` values.
pub type Ports = (BTreeMap<String, Value>, BTreeMap<String, Option<Vec<PortBinding>>>);

/// Parses every `-p` and `--expose` value.
pub fn parse_ports(publish: &[String], expose: &[String]) -> Result<Ports, String> {
    let mut exposed = BTreeMap::new();
    let mut bindings: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    for spec in publish {
        for (port, binding) in parse_port_spec(spec)? {
            exposed.insert(port.clone(), json!({}));
            bindings.entry(port).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(binding);
        }
    }
    for e in expose {
        let (port, proto) = split_proto(e);
        let (start, end) = port_range(port).ok_or_else(|| format!("invalid range format for --expose: {e}, error: invalid port"))?;
        for p in start..=end {
            exposed.insert(format!("{p}/{proto}"), json!({}));
        }
    }
    Ok((exposed, bindings))
}

/// `--restart` into `(name, max retries)`, validated like docker.
pub fn parse_restart(policy: &str) -> Result<(String, i64), String> {
    let (name, count) = policy.split_once(':').unwrap_or((policy, ""));
    let count: i64 =
        if count.is_empty() { 0 } else { count.parse().map_err(|_| "invalid restart policy format: maximum retry count must be an integer".to_string())? };
    match name {
        "no" | "always" | "unless-stopped" if count != 0 => Err("invalid restart policy: maximum retry count can only be used with 'on-failure'".into()),
        "on-failure" if count < 0 => Err("invalid restart policy: maximum retry count cannot be negative".into()),
        "no" | "always" | "unless-stopped" | "on-failure" | "" => Ok((if name.is_empty() { "no" } else { name }.to_string(), count)),
        other => Err(format!("invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")),
    }
}

/// Capability names as docker normalizes them (`net_admin` is `CAP_NET_ADMIN`).
pub fn normalize_caps(caps: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in caps {
        let c = c.trim().to_ascii_uppercase();
        let c = if c == "ALL" || c.starts_with("CAP_") { c } else { format!("CAP_{c}") };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// What a `-v` spec turns into.
#[derive(Debug, PartialEq)]
pub enum VolumeSpec {
    /// `src:dst[:mode]` (bind or named volume) for `HostConfig.Binds`.
    Bind(String),
    /// `/dst` for `Config.Volumes`.
    Anonymous(String),
}

/// Classifies a `-v` value; a relative `./src` becomes absolute like docker does.
pub fn parse_volume(spec: &str) -> Result<VolumeSpec, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("invalid spec: {spec}: empty section between colons"));
    }
    match parts.as_slice() {
        [dst] => {
            if !dst.starts_with('/') {
                return Err(format!("invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute"));
            }
            Ok(VolumeSpec::Anonymous(dst.to_string()))
        }
        [src, rest @ ..] if rest.len() <= 2 => {
            if !rest[0].starts_with('/') {
                return Err(format!("invalid spec: {spec}: invalid mount path: '{}' mount path must be absolute", rest[0]));
            }
            let src = if src.starts_with('.') {
                std::path::absolute(src).map(|p| p.display().to_string()).unwrap_or_else(|_| src.to_string())
            } else {
                src.to_string()
            };
            Ok(VolumeSpec::Bind(std::iter::once(src.as_str()).chain(rest.iter().copied()).collect::<Vec<_>>().join(":")))
        }
        _ => Err(format!("invalid spec: {spec}: too many colons")),
    }
}

fn parse_bool_field(key: &str, v: Option<&str>) -> Result<bool, String> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("invalid value for {key}: {other}")),
    }
}

/// Splits a `--mount` value on commas, honouring double quotes like Go's csv reader.
fn csv_fields(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// A `--mount` value into a `Mounts` entry.
pub fn parse_mount(spec: &str) -> Result<berth_api::types::MountRequest, String> {
    let mut m = berth_api::types::MountRequest { typ: "volume".into(), ..Default::default() };
    let mut volume = Map::new();
    let mut tmpfs = Map::new();
    for field in csv_fields(spec) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.to_string())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = || value.clone().ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"));
        match key.as_str() {
            "readonly" | "ro" => m.read_only = parse_bool_field(&key, value.as_deref())?,
            "volume-nocopy" => {
                volume.insert("NoCopy".into(), Value::Bool(parse_bool_field(&key, value.as_deref())?));
            }
            "bind-nonrecursive" | "bind-recursive" | "bind-propagation" | "consistency" => {}
            "type" => m.typ = need()?,
            "source" | "src" => m.source = need()?,
            "target" | "dst" | "destination" => m.target = need()?,
            "volume-subpath" => {
                volume.insert("Subpath".into(), Value::String(need()?));
            }
            "volume-driver" => {
                volume.entry("DriverConfig").or_insert_with(|| json!({}))["Name"] = Value::String(need()?);
            }
            "volume-label" | "volume-opt" => {
                let v = need()?;
                let (k, val) = v.split_once('=').unwrap_or((v.as_str(), ""));
                let slot = if key == "volume-label" {
                    volume.entry("Labels").or_insert_with(|| json!({}))
                } else {
                    volume
                        .entry("DriverConfig")
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .map(|d| d.entry("Options").or_insert_with(|| json!({})))
                        .ok_or("bad volume-opt")?
                };
                slot[k] = Value::String(val.to_string());
            }
            "tmpfs-size" => {
                tmpfs.insert("SizeBytes".into(), Value::from(parse_ram(&need()?)?));
            }
            "tmpfs-mode" => {
                let v = need()?;
                let mode = u32::from_str_radix(&v, 8).map_err(|_| format!("invalid value for {key}: {v}"))?;
                tmpfs.insert("Mode".into(), Value::from(mode));
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if m.target.is_empty() {
        return Err("target is required".into());
    }
    if !volume.is_empty() {
        if m.typ != "volume" {
            return Err(format!("cannot mix 'volume-*' options with mount type '{}'", m.typ));
        }
        m.volume_options = Some(Value::Object(volume));
    }
    if !tmpfs.is_empty() {
        if m.typ != "tmpfs" {
            return Err(format!("cannot mix 'tmpfs-*' options with mount type '{}'", m.typ));
        }
        m.tmpfs_options = Some(Value::Object(tmpfs));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_units() {
        assert_eq!(parse_ram("512m"), Ok(536_870_912));
        assert_eq!(parse_ram("1g"), Ok(1_073_741_824));
        assert_eq!(parse_ram("1.5GiB"), Ok(1_610_612_736));
        assert_eq!(parse_ram("100"), Ok(100));
        assert_eq!(parse_ram("10b"), Ok(10));
        assert_eq!(parse_ram("4k"), Ok(4096));
        assert_eq!(parse_ram("4 KB"), Ok(4096));
        assert_eq!(parse_ram("x"), Err("invalid size: 'x'".into()));
        assert!(parse_ram("5q").is_err());
        assert!(parse_ram("").is_err());
        assert_eq!(parse_swap("-1"), Ok(-1));
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("2"), Ok(2_000_000_000));
        assert_eq!(parse_cpus(".25"), Ok(250_000_000));
        assert_eq!(parse_cpus("0.0000000001"), Err("value is too precise".into()));
        assert!(parse_cpus("abc").is_err());
    }

    #[test]
    fn ports_like_nat() {
        let b = |ip: &str, p: &str| PortBinding { host_ip: ip.into(), host_port: p.into() };
        assert_eq!(parse_port_spec("8080:80"), Ok(vec![("80/tcp".into(), b("", "8080"))]));
        assert_eq!(parse_port_spec("90"), Ok(vec![("90/tcp".into(), b("", ""))]));
        assert_eq!(
            parse_port_spec("127.0.0.1:8000-8001:80-81/udp"),
            Ok(vec![("80/udp".into(), b("127.0.0.1", "8000")), ("81/udp".into(), b("127.0.0.1", "8001"))])
        );
        assert_eq!(parse_port_spec("8000-8010:80"), Ok(vec![("80/tcp".into(), b("", "8000-8010"))]));
        assert_eq!(parse_port_spec("[::1]:80:80"), Ok(vec![("80/tcp".into(), b("::1", "80"))]));
        assert_eq!(parse_port_spec("0.0.0.0::80"), Ok(vec![("80/tcp".into(), b("0.0.0.0", ""))]));
        assert_eq!(parse_port_spec("target=80,published=8080"), Ok(vec![("80/tcp".into(), b("", "8080"))]));
        assert_eq!(parse_port_spec("8000-8001:80-82"), Err("invalid ranges specified for container and host Ports: 80-82 and 8000-8001".into()));
        assert_eq!(parse_port_spec("x:80"), Err("invalid hostPort: x".into()));
        assert_eq!(parse_port_spec("80/foo"), Err("invalid proto: foo".into()));
        assert_eq!(parse_port_spec("1.2.3:80:80"), Err("invalid IP address: 1.2.3".into()));
        let (exposed, bindings) = parse_ports(&["8080:80".into(), "8081:80".into()], &["7000-7001".into()]).unwrap_or_default();
        assert_eq!(exposed.keys().collect::<Vec<_>>(), ["7000/tcp", "7001/tcp", "80/tcp"]);
        assert_eq!(bindings["80/tcp"].as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn env_and_labels() {
        let lookup = |k: &str| (k == "HOME_X").then(|| "/root".to_string());
        assert_eq!(env_value("K=V", &lookup), Ok("K=V".into()));
        assert_eq!(env_value("HOME_X", &lookup), Ok("HOME_X=/root".into()));
        assert_eq!(env_value("UNSET", &lookup), Ok("UNSET".into()));
        assert!(env_value("=x", &lookup).is_err());
        let text = "\u{feff}A=1\n  # comment\n\nHOME_X\nMISSING\nB= spaced \n";
        assert_eq!(parse_kv_file("f", text, Some(&lookup)), Ok(vec!["A=1".into(), "HOME_X=/root".into(), "B= spaced ".into()]));
        assert!(parse_kv_file("f", "A B=1", Some(&lookup)).is_err());
        assert_eq!(parse_kv_file("f", "a=b\nc\n", None), Ok(vec!["a=b".into()]));
        let labels = kv_map(&["a=b".into(), "c".into(), "d=e=f".into()]);
        assert_eq!(labels.get("c").map(String::as_str), Some(""));
        assert_eq!(labels.get("d").map(String::as_str), Some("e=f"));
    }

    #[test]
    fn restart_caps_volumes() {
        assert_eq!(parse_restart("on-failure:3"), Ok(("on-failure".into(), 3)));
        assert_eq!(parse_restart("always"), Ok(("always".into(), 0)));
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").err().unwrap_or_default().contains("unknown policy 'sometimes'"));
        assert_eq!(normalize_caps(&["net_admin".into(), "ALL".into(), "CAP_NET_ADMIN".into()]), ["CAP_NET_ADMIN", "ALL"]);
        assert_eq!(parse_volume("/tmp:/data"), Ok(VolumeSpec::Bind("/tmp:/data".into())));
        assert_eq!(parse_volume("vol1:/v:ro"), Ok(VolumeSpec::Bind("vol1:/v:ro".into())));
        assert_eq!(parse_volume("/anon"), Ok(VolumeSpec::Anonymous("/anon".into())));
        assert!(parse_volume("a::b").is_err());
        assert!(parse_volume("rel").is_err());
        let abs = parse_volume("./x:/x");
        assert!(matches!(abs, Ok(VolumeSpec::Bind(ref s)) if s.starts_with('/') && s.ends_with("/x:/x")));
    }

    #[test]
    fn mounts() {
        let m = parse_mount("type=volume,src=v,dst=/m").unwrap_or_default();
        assert_eq!(serde_json::to_value(&m).unwrap_or_default(), json!({"Type":"volume","Source":"v","Target":"/m","ReadOnly":false}));
        let m = parse_mount("type=bind,source=/a,target=/b,readonly").unwrap_or_default();
        assert!(m.read_only);
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap_or_default();
        assert_eq!(m.tmpfs_options, Some(json!({"SizeBytes":1048576,"Mode":1016})));
        assert_eq!(parse_mount("type=bind,src=/a").err().as_deref(), Some("target is required"));
        assert!(parse_mount("type=bind,dst=/a,volume-nocopy").is_err());
        assert!(parse_mount("bogus=1,dst=/a").is_err());
        assert!(parse_mount("src,dst=/a").is_err());
    }
}

/// Docker's `GetTimestamp` for `--since`/`--until`: a duration is relative to now, an RFC
/// 3339 or date value becomes `secs.nanos`, a unix timestamp passes through.
pub fn get_timestamp(value: &str, now: i64) -> Result<String, String> {
    if value != "0" {
        if let Some(d) = berth_build::parse_duration(value) {
            return Ok((now - d / 1_000_000_000).to_string());
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos()));
    }
    let local = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"];
    for f in local {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, f) {
            let t = t.and_utc();
            return Ok(format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos()));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let t = d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or(0);
        return Ok(format!("{t}.000000000"));
    }
    if value.contains('-') {
        return Err(format!("parsing time \"{value}\": cannot parse as a time"));
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, "0"));
    if secs.parse::<i64>().is_err() || frac.parse::<u64>().is_err() {
        return Err(format!("failed to parse value as time or duration: \"{value}\""));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod timestamp_tests {
    use super::get_timestamp;

    #[test]
    fn since_until_values() {
        assert_eq!(get_timestamp("10m", 1000), Ok("400".into()));
        assert_eq!(get_timestamp("1700000000", 0), Ok("1700000000".into()));
        assert_eq!(get_timestamp("1700000000.5", 0), Ok("1700000000.5".into()));
        assert_eq!(get_timestamp("2024-01-02T03:04:05Z", 0), Ok("1704164645.000000000".into()));
        assert_eq!(get_timestamp("2024-01-02", 0), Ok("1704153600.000000000".into()));
        assert!(get_timestamp("yesterday", 0).is_err());
    }
}
