//! Parse-time splitting of an instruction line: keyword, `--flags`, and the
//! argument shapes instructions use (whitespace fields, quote-aware words,
//! JSON arrays). Nothing here expands variables; quotes are kept where
//! Docker keeps them so expansion can remove them later.

use crate::error::ErrorKind;

/// Separators of Docker's whitespace split: `[\t\v\f\r ]`.
fn is_field_sep(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// An instruction line split into keyword, raw flags and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandLine<'a> {
    /// The keyword as written (`run`, `RUN`, `FORM`...).
    pub keyword: &'a str,
    /// `--name[=value]` words with quotes and escapes resolved.
    pub flags: Vec<String>,
    /// Everything after the flags, trimmed.
    pub rest: String,
}

/// Splits `line` into keyword, flags and arguments.
pub(crate) fn split_command(line: &str, escape: char) -> CommandLine<'_> {
    let line = line.trim();
    let (keyword, args) = match line.find(is_field_sep) {
        Some(at) => (line.get(..at).unwrap_or(line), line.get(at..).unwrap_or("").trim_start_matches(is_field_sep)),
        None => (line, ""),
    };
    let (rest, flags) = extract_flags(args, escape);
    CommandLine { keyword, flags, rest: rest.trim().to_string() }
}

/// Pulls leading `--flag` words off `args`. A bare `--` ends the flags.
fn extract_flags(args: &str, escape: char) -> (&str, Vec<String>) {
    let mut flags = Vec::new();
    let mut chars = args.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return ("", flags);
        };
        if !args.get(start..).is_some_and(|s| s.starts_with("--")) {
            return (args.get(start..).unwrap_or(""), flags);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut quoted = false;
        let mut end = args.len();
        while let Some((at, ch)) = chars.next() {
            match quote {
                None if ch.is_whitespace() => {
                    end = at;
                    break;
                }
                None if ch == '\'' || ch == '"' => {
                    quote = Some(ch);
                    quoted = true;
                }
                Some(q) if ch == q => quote = None,
                _ if ch == escape => match chars.next() {
                    Some((_, escaped)) => word.push(escaped),
                    None => quote = None,
                },
                _ => word.push(ch),
            }
        }
        if word == "--" {
            return (args.get(end..).unwrap_or(""), flags);
        }
        if quoted || !word.is_empty() {
            flags.push(word);
        }
    }
}

/// Splits on runs of `[\t\v\f\r ]` (the caller has trimmed the ends).
pub(crate) fn split_fields(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(is_field_sep).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Splits on unquoted whitespace, keeping quotes and escapes in the words
/// (used by `ENV`, `LABEL` and `ARG`, whose values are unquoted later by
/// expansion). Single quotes protect escapes; double quotes do not.
pub(crate) fn quoted_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut started = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(ch) = chars.next() {
        match quote {
            None if ch.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
                continue;
            }
            None if ch == '\'' || ch == '"' => quote = Some(ch),
            Some(q) if ch == q => quote = None,
            _ => {}
        }
        if ch == escape && quote != Some('\'') {
            match chars.next() {
                Some(next) => {
                    word.push(ch);
                    word.push(next);
                    started = true;
                }
                // An escape at the very end is dropped; it also closes an
                // open double quote.
                None => quote = None,
            }
            continue;
        }
        word.push(ch);
        started = true;
    }
    if started {
        words.push(word);
    }
    words
}

/// Outcome of looking for a JSON array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Json {
    /// A valid array of strings.
    Array(Vec<String>),
    /// Not JSON: the caller falls back to the shell form.
    NotJson,
}

/// Parses `rest` as a JSON array of strings. Valid JSON with non-string
/// elements is an error (not a fallback), as in Docker.
pub(crate) fn json_array(rest: &str) -> Result<Json, ErrorKind> {
    let trimmed = rest.trim_start();
    if !trimmed.starts_with('[') {
        return Ok(Json::NotJson);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(trimmed) else {
        return Ok(Json::NotJson);
    };
    values
        .into_iter()
        .map(|value| match value {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(ErrorKind::JsonNotStrings),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Json::Array)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_keyword_flags_and_rest() {
        let line = split_command("  COPY --from=build --chown=\"a b\" src /dst  ", '\\');
        assert_eq!(line.keyword, "COPY");
        assert_eq!(line.flags, ["--from=build", "--chown=a b"]);
        assert_eq!(line.rest, "src /dst");
    }

    #[test]
    fn double_dash_ends_flags() {
        let line = split_command("RUN --network=none -- --not-a-flag", '\\');
        assert_eq!(line.flags, ["--network=none"]);
        assert_eq!(line.rest, "--not-a-flag");
    }

    #[test]
    fn no_arguments() {
        let line = split_command("FROM", '\\');
        assert_eq!((line.keyword, line.flags.len(), line.rest.as_str()), ("FROM", 0, ""));
        assert_eq!(split_command("RUN --mount=type=cache", '\\').flags, ["--mount=type=cache"]);
    }

    #[test]
    fn quoted_words_keep_quotes() {
        assert_eq!(quoted_words(r#"a=1 b="x y" c='p q' d=x\ y"#, '\\'), ["a=1", "b=\"x y\"", "c='p q'", r"d=x\ y"]);
        assert_eq!(quoted_words(r#"e="" f"#, '\\'), ["e=\"\"", "f"]);
        assert_eq!(quoted_words(r#"g="a\"b""#, '\\'), [r#"g="a\"b""#]);
    }

    #[test]
    fn json_detection() {
        assert_eq!(json_array(r#"["a", "b c"]"#), Ok(Json::Array(vec!["a".into(), "b c".into()])));
        assert_eq!(json_array("echo [hi]"), Ok(Json::NotJson));
        assert_eq!(json_array(r#"["a",]"#), Ok(Json::NotJson));
        assert_eq!(json_array("[1, 2]"), Err(ErrorKind::JsonNotStrings));
        assert_eq!(json_array("[]"), Ok(Json::Array(vec![])));
    }

    #[test]
    fn fields() {
        assert_eq!(split_fields("a \t b\x0bc"), ["a", "b", "c"]);
        assert!(split_fields("").is_empty());
    }
}
