//! Instructions that set one image or stage setting: `EXPOSE`, `VOLUME`,
//! `USER`, `WORKDIR`, `STOPSIGNAL` and `MAINTAINER`.

use serde::{Deserialize, Serialize};

use super::{no_flags, RawInstruction, Source};
use crate::error::ErrorKind;
use crate::words::{json_array, split_fields, Json};

/// `EXPOSE port[/proto] ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expose {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// Raw port words (`80`, `8000-8010/udp`, `${PORT}`). After expansion
    /// each is one port spec; see [`crate::ports::parse_ports`].
    pub ports: Vec<String>,
}

/// `VOLUME ["/a", "/b"]` or `VOLUME /a /b`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// Mount points (raw until expanded).
    pub paths: Vec<String>,
}

/// `USER name[:group]` (the whole rest of the line is one word).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// The user spec (raw until expanded).
    pub user: String,
}

/// `WORKDIR path` (the whole rest of the line is one word).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workdir {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// The directory (raw until expanded; relative paths are relative to the
    /// previous WORKDIR).
    pub path: String,
}

/// `STOPSIGNAL signal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopSignal {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// Signal name or number (raw until expanded).
    pub signal: String,
}

/// `MAINTAINER name` (deprecated; sets the image author).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintainer {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// The author text, never expanded.
    pub name: String,
}

pub(super) fn parse_expose(raw: RawInstruction) -> Result<Expose, ErrorKind> {
    no_flags(&raw)?;
    let ports = split_fields(&raw.rest);
    if ports.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument);
    }
    Ok(Expose { source: raw.source, ports })
}

pub(super) fn parse_volume(raw: RawInstruction) -> Result<Volume, ErrorKind> {
    no_flags(&raw)?;
    let words = match json_array(&raw.rest)? {
        Json::Array(words) => words,
        Json::NotJson => split_fields(&raw.rest),
    };
    if words.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument);
    }
    let paths = words
        .iter()
        .map(|w| match w.trim() {
            "" => Err(ErrorKind::EmptyVolume),
            path => Ok(path.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Volume { source: raw.source, paths })
}

/// The single argument of USER/WORKDIR/STOPSIGNAL/MAINTAINER.
fn one(raw: &RawInstruction) -> Result<String, ErrorKind> {
    no_flags(raw)?;
    if raw.rest.is_empty() {
        return Err(ErrorKind::ExactlyOneArgument);
    }
    Ok(raw.rest.clone())
}

pub(super) fn parse_user(raw: RawInstruction) -> Result<User, ErrorKind> {
    Ok(User { user: one(&raw)?, source: raw.source })
}

pub(super) fn parse_workdir(raw: RawInstruction) -> Result<Workdir, ErrorKind> {
    Ok(Workdir { path: one(&raw)?, source: raw.source })
}

pub(super) fn parse_stopsignal(raw: RawInstruction) -> Result<StopSignal, ErrorKind> {
    Ok(StopSignal { signal: one(&raw)?, source: raw.source })
}

pub(super) fn parse_maintainer(raw: RawInstruction) -> Result<Maintainer, ErrorKind> {
    Ok(Maintainer { name: one(&raw)?, source: raw.source })
}
