//! Name/value instructions: `ENV`, `LABEL` and `ARG`.
//!
//! Values are kept raw (quotes included) because Docker removes quotes
//! during expansion: `ENV a="x y"` stores `"x y"` until expanded to `x y`.

use serde::{Deserialize, Serialize};

use super::{no_flags, RawInstruction, Source};
use crate::error::ErrorKind;
use crate::words::quoted_words;

/// One `key=value` pair (raw until expanded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The name.
    pub key: String,
    /// The value.
    pub value: String,
}

/// `ENV k=v ...` or the legacy `ENV k v`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Env {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// The variables, in order. All values are expanded against the scope
    /// *before* the instruction, so `ENV a=1 b=$a` sees the old `a`.
    pub vars: Vec<KeyValue>,
}

/// `LABEL k=v ...` (or the legacy `LABEL k v`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// The labels, in order.
    pub labels: Vec<KeyValue>,
}

/// One declared build argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgDef {
    /// The argument name (never expanded).
    pub name: String,
    /// The default value (raw until expanded), if any. `ARG a=` has
    /// `Some("")`, `ARG a` has `None`.
    pub default: Option<String>,
}

/// `ARG name[=default] ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arg {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// The arguments, in order; each default may use the ones before it.
    pub args: Vec<ArgDef>,
}

/// Whether `rest` uses the legacy `KEY value` form (first word has no `=`).
pub(crate) fn is_legacy_form(rest: &str, escape: char) -> bool {
    quoted_words(rest, escape).first().is_some_and(|w| !w.contains('='))
}

fn name_values(rest: &str, escape: char) -> Result<Vec<KeyValue>, ErrorKind> {
    let words = quoted_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(ErrorKind::AtLeastOneArgument);
    };
    if !first.contains('=') {
        let sep = rest.find(['\t', '\x0b', '\x0c', '\r', ' ']).ok_or(ErrorKind::LegacyNeedsValue)?;
        let (key, value) = rest.split_at_checked(sep).ok_or(ErrorKind::LegacyNeedsValue)?;
        let value = value.trim_start_matches(['\t', '\x0b', '\x0c', '\r', ' ']);
        return Ok(vec![KeyValue { key: key.to_string(), value: value.to_string() }]);
    }
    words
        .iter()
        .map(|word| {
            let (key, value) = word.split_once('=').ok_or_else(|| ErrorKind::MissingEquals { word: word.clone() })?;
            if key.is_empty() {
                return Err(ErrorKind::BlankName);
            }
            Ok(KeyValue { key: key.to_string(), value: value.to_string() })
        })
        .collect()
}

pub(super) fn parse_env(raw: RawInstruction) -> Result<Env, ErrorKind> {
    no_flags(&raw)?;
    Ok(Env { vars: name_values(&raw.rest, raw.escape)?, source: raw.source })
}

pub(super) fn parse_label(raw: RawInstruction) -> Result<Label, ErrorKind> {
    no_flags(&raw)?;
    Ok(Label { labels: name_values(&raw.rest, raw.escape)?, source: raw.source })
}

pub(super) fn parse_arg(raw: RawInstruction) -> Result<Arg, ErrorKind> {
    no_flags(&raw)?;
    let words = quoted_words(&raw.rest, raw.escape);
    if words.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument);
    }
    let args = words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(ErrorKind::BlankName),
            Some((name, default)) => Ok(ArgDef { name: name.to_string(), default: Some(default.to_string()) }),
            None => Ok(ArgDef { name: word, default: None }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arg { source: raw.source, args })
}
