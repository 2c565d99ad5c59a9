//! List output as docker's formatter does it: `table ...` formats go through the tab
//! writer with a header row, `json` is `{{json .}}`, anything else is one line per row.

use serde_json::Value;

use super::error::{CliError, Result};
use super::format::tabwrite;
use super::template::Template;

/// Renders `rows` with `format` (empty: `default_table`); `header` holds column titles.
pub fn render(format: &str, default_table: &str, header: &Value, rows: &[Value]) -> Result<String> {
    let format = match format.trim() {
        "" | "table" => default_table.to_string(),
        "json" => "{{json .}}".to_string(),
        f => f.to_string(),
    };
    let (table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_matches(' ').to_string()),
        None => (false, format),
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let tpl = Template::parse(&body).map_err(|e| CliError::msg(format!("template parsing error: {e}")))?.with_html_json();
    let mut out = String::new();
    if table {
        out.push_str(&tpl.render(header).map_err(|e| CliError::msg(e.to_string()))?);
        out.push('\n');
    }
    for row in rows {
        out.push_str(&tpl.render(row).map_err(|e| CliError::msg(e.to_string()))?);
        out.push('\n');
    }
    Ok(if table { tabwrite(&out) } else { out })
}

/// `{"ID":"CONTAINER ID",...}`: header titles for the given keys.
pub fn header(pairs: &[(&str, &str)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect())
}
