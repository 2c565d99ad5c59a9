//! Validation of an instruction's `--name[=value]` flags against the set it
//! accepts.

use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::suggest::closest;

/// One flag as written on an instruction, in source order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flag {
    /// Name without the leading dashes (`mount`).
    pub name: String,
    /// The value after `=`; `None` for a bare boolean flag.
    pub value: Option<String>,
}

/// What values a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--link`, `--link=true`, `--link=false`.
    Bool,
    /// `--from=x`, at most once.
    Single,
    /// `--mount=x`, any number of times.
    Repeated,
}

/// The flags of one instruction after validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    list: Vec<Flag>,
}

impl Flags {
    /// Checks `raw` (as produced by the line splitter, `--name[=value]`)
    /// against `accepted`.
    pub(crate) fn parse(raw: &[String], accepted: &[(&'static str, Kind)]) -> Result<Flags, ErrorKind> {
        let mut list: Vec<Flag> = Vec::new();
        for word in raw {
            let body = word.strip_prefix("--").unwrap_or(word);
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (body, None),
            };
            let flag = format!("--{name}");
            let Some((_, kind)) = accepted.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = accepted.iter().map(|(n, _)| *n).collect();
                let suggestion = closest(name, &names).map(|s| format!("--{s}"));
                return Err(ErrorKind::UnknownFlag { flag, suggestion });
            };
            if *kind != Kind::Repeated && list.iter().any(|f| f.name == name) {
                return Err(ErrorKind::DuplicateFlag { flag });
            }
            let value = match (kind, value) {
                (Kind::Bool, Some(v)) if v.is_empty() => return Err(ErrorKind::MissingFlagValue { flag }),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => Some("true".to_string()),
                    "false" => Some("false".to_string()),
                    _ => return Err(ErrorKind::InvalidBoolFlag { flag, value: v }),
                },
                (Kind::Bool, None) => None,
                (_, Some(v)) => Some(v),
                (_, None) => return Err(ErrorKind::MissingFlagValue { flag }),
            };
            list.push(Flag { name: name.to_string(), value });
        }
        Ok(Flags { list })
    }

    /// Value of a single-valued flag.
    pub(crate) fn single(&self, name: &str) -> Option<String> {
        self.list.iter().find(|f| f.name == name).and_then(|f| f.value.clone())
    }

    /// Every value of a repeatable flag, in order.
    pub(crate) fn repeated(&self, name: &str) -> Vec<String> {
        self.list.iter().filter(|f| f.name == name).filter_map(|f| f.value.clone()).collect()
    }

    /// A boolean flag: `None` when absent.
    pub(crate) fn boolean(&self, name: &str) -> Option<bool> {
        self.list.iter().find(|f| f.name == name).map(|f| f.value.as_deref() != Some("false"))
    }

    /// All flags in source order.
    pub(crate) fn into_list(self) -> Vec<Flag> {
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COPY: &[(&str, Kind)] = &[("from", Kind::Single), ("link", Kind::Bool), ("exclude", Kind::Repeated)];

    fn parse(raw: &[&str]) -> Result<Flags, ErrorKind> {
        let raw: Vec<String> = raw.iter().map(|s| s.to_string()).collect();
        Flags::parse(&raw, COPY)
    }

    #[test]
    fn accepts_known_flags() {
        let flags = parse(&["--from=a", "--link", "--exclude=x", "--exclude=y"]);
        let flags = flags.unwrap_or_default();
        assert_eq!(flags.single("from").as_deref(), Some("a"));
        assert_eq!(flags.boolean("link"), Some(true));
        assert_eq!(flags.repeated("exclude"), ["x", "y"]);
        assert_eq!(parse(&["--link=FALSE"]).map(|f| f.boolean("link")), Ok(Some(false)));
    }

    #[test]
    fn rejects_bad_flags() {
        assert_eq!(parse(&["--frm=x"]), Err(ErrorKind::UnknownFlag { flag: "--frm".into(), suggestion: Some("--from".into()) }));
        assert_eq!(parse(&["--from=a", "--from=b"]), Err(ErrorKind::DuplicateFlag { flag: "--from".into() }));
        assert_eq!(parse(&["--from"]), Err(ErrorKind::MissingFlagValue { flag: "--from".into() }));
        assert_eq!(parse(&["--link="]), Err(ErrorKind::MissingFlagValue { flag: "--link".into() }));
        assert_eq!(parse(&["--link=yes"]), Err(ErrorKind::InvalidBoolFlag { flag: "--link".into(), value: "yes".into() }));
    }
}
