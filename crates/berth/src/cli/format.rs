//! Output helpers shared by the verbs: Go's tabwriter as docker configures it, human sizes
//! and durations from `go-units`, id truncation, Go-style quoting.

/// Docker's table writer settings: minimum cell width 10, padding 3, spaces.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// Aligns tab-separated cells like Go's `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)`.
///
/// A cell is text followed by a tab; the text after a line's last tab is not aligned.
pub fn tabwrite(text: &str) -> String {
    tabwrite_min(text, MIN_WIDTH)
}

/// [`tabwrite`] with another minimum cell width (`top` uses 20).
pub fn tabwrite_min(text: &str, min_width: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split_terminator('\n').map(|l| l.split('\t').collect()).collect();
    let columns = lines.iter().map(|l| l.len().saturating_sub(1)).max().unwrap_or(0);
    let mut widths = vec![min_width; columns];
    for line in &lines {
        for (j, cell) in line.iter().take(line.len().saturating_sub(1)).enumerate() {
            widths[j] = widths[j].max(width(cell) + PADDING);
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    for line in &lines {
        let last = line.len().saturating_sub(1);
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < last {
                out.extend(std::iter::repeat_n(' ', widths[j].saturating_sub(width(cell))));
            }
        }
        out.push('\n');
    }
    out
}

/// The display width of `s` as tabwriter counts it (runes).
pub fn width(s: &str) -> usize {
    s.chars().count()
}

/// `go-units.HumanDuration`: "Less than a second", "5 seconds", "About a minute", ...
pub fn human_duration(secs: i64) -> String {
    let seconds = secs.max(0);
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go rounds to the nearest hour here (half away from zero).
    let hours = (seconds + 1800) / 3600;
    match hours {
        1 => "About an hour".into(),
        h if h < 48 => format!("{h} hours"),
        h if h < 24 * 7 * 2 => format!("{} days", h / 24),
        h if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        h if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// `HumanDuration(now - t) + " ago"` for a unix time.
pub fn ago(unix: i64) -> String {
    format!("{} ago", human_duration(now_unix() - unix))
}

/// The current unix time in seconds.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Go's `time.Unix(t, 0).String()` in UTC: `2024-01-02 15:04:05 +0000 UTC`.
pub fn go_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()).unwrap_or_default()
}

const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

fn custom_size(size: f64, precision: usize, base: f64, units: &[&str]) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", go_g(size, precision), units[i])
}

/// `go-units.HumanSizeWithPrecision`: decimal units (`4.26MB` with precision 3).
pub fn human_size_prec(size: f64, precision: usize) -> String {
    custom_size(size, precision, 1000.0, &DECIMAL)
}

/// `go-units.HumanSize` (precision 4).
pub fn human_size(size: f64) -> String {
    human_size_prec(size, 4)
}

/// `go-units.BytesSize`: binary units (`1.5GiB`).
pub fn bytes_size(size: f64) -> String {
    custom_size(size, 4, 1024.0, &BINARY)
}

/// Go's `%.<prec>g`: shortest of `%e` and `%f`, trailing zeros removed.
pub fn go_g(x: f64, prec: usize) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return format!("{x}");
    }
    let p = prec.max(1);
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_fraction(mantissa), exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{x:.decimals$}"))
    }
}

fn trim_fraction(s: &str) -> String {
    if !s.contains('.') {
        return s.to_string();
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Docker's `TruncateID`: drops an algorithm prefix and keeps 12 characters.
pub fn trunc_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, hex)| hex);
    id.chars().take(12).collect()
}

/// Docker's `Ellipsis`: at most `max` display characters, the last one `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Serializes like Go's `json.Marshal` (HTML characters escaped).
pub fn go_json_escaped(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// Re-indents raw JSON text with 4 spaces like Go's `json.Indent`, keeping key order.
pub fn indent_json(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    let text = String::from_utf8_lossy(raw);
    let mut chars = text.trim().chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("    ", depth));
    };
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size_prec(4_264_000.0, 3), "4.26MB");
        assert_eq!(human_size_prec(12_345.0, 3), "12.3kB");
        assert_eq!(human_size_prec(0.0, 3), "0B");
        assert_eq!(human_size_prec(999.0, 3), "999B");
        assert_eq!(human_size_prec(4_200_000.0, 3), "4.2MB");
        assert_eq!(human_size_prec(999_500.0, 3), "1e+03kB");
        assert_eq!(human_size(1_234_567.0), "1.235MB");
        assert_eq!(bytes_size(1_610_612_736.0), "1.5GiB");
        assert_eq!(bytes_size(512.0), "512B");
        assert_eq!(go_g(0.0001234, 3), "0.000123");
        assert_eq!(go_g(0.00001234, 3), "1.23e-05");
    }

    #[test]
    fn durations_like_go_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(59 * 60), "59 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn tabwriter_pads_like_docker() {
        let out = tabwrite("CONTAINER ID\tIMAGE\tNAMES\n0123456789ab\tbusybox\tweb\n");
        assert_eq!(out, "CONTAINER ID   IMAGE     NAMES\n0123456789ab   busybox   web\n");
        let out = tabwrite("A\tB\n");
        assert_eq!(out, "A         B\n");
    }

    #[test]
    fn truncation_and_quoting() {
        assert_eq!(trunc_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(trunc_id("aa"), "aa");
        let cmd = "sh -c 'while true; do echo hi; sleep 1; done'";
        assert_eq!(go_quote(&ellipsis(cmd, 20)), "\"sh -c 'while true; …\"");
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
    }

    #[test]
    fn indents_preserving_order() {
        let out = indent_json(br#"[{"b":1,"a":[],"c":{"x":"y,}"}}]"#);
        assert_eq!(out, "[\n    {\n        \"b\": 1,\n        \"a\": [],\n        \"c\": {\n            \"x\": \"y,}\"\n        }\n    }\n]");
    }
}
