//! `COPY` and `ADD`: sources (paths or heredocs) to a destination.

use serde::{Deserialize, Serialize};

use super::{RawInstruction, Source};
use crate::error::ErrorKind;
use crate::flags::{Flags, Kind};
use crate::heredoc::{parse_marker, Heredoc};
use crate::shell_words::{NoVars, ShellWords};
use crate::words::{json_array, split_fields, Json};

/// One source of a `COPY`/`ADD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CopySource {
    /// A path (or glob, or for ADD a URL) in the context or `--from` stage,
    /// raw until expanded.
    Path(String),
    /// An inline file from a heredoc, created under its delimiter name.
    Heredoc(Heredoc),
}

/// `COPY [--from=..] [--chown=..] [--chmod=..] [--link] [--parents]
/// [--exclude=..] src... dest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Copy {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// `--from`: a stage name, a stage index or an image reference, never
    /// expanded; resolve it with [`crate::Dockerfile::resolve_from`].
    pub from: Option<String>,
    /// `--chown` (raw until expanded).
    pub chown: Option<String>,
    /// `--chmod` (raw until expanded).
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`: keep the source's parent directories.
    pub parents: bool,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// Sources in order.
    pub sources: Vec<CopySource>,
    /// Destination (raw until expanded).
    pub dest: String,
}

/// `ADD [--chown=..] [--chmod=..] [--link] [--keep-git-dir] [--checksum=..]
/// [--unpack] [--exclude=..] src... dest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Add {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// `--chown` (raw until expanded).
    pub chown: Option<String>,
    /// `--chmod` (raw until expanded).
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--keep-git-dir`, when given.
    pub keep_git_dir: Option<bool>,
    /// `--checksum` of a remote source (raw until expanded).
    pub checksum: Option<String>,
    /// `--unpack`, when given (archives are unpacked by default for local
    /// sources).
    pub unpack: Option<bool>,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// Sources in order.
    pub sources: Vec<CopySource>,
    /// Destination (raw until expanded).
    pub dest: String,
}

const COPY_FLAGS: &[(&str, Kind)] =
    &[("chown", Kind::Single), ("from", Kind::Single), ("chmod", Kind::Single), ("link", Kind::Bool), ("exclude", Kind::Repeated), ("parents", Kind::Bool)];

const ADD_FLAGS: &[(&str, Kind)] = &[
    ("chown", Kind::Single),
    ("chmod", Kind::Single),
    ("link", Kind::Bool),
    ("keep-git-dir", Kind::Bool),
    ("checksum", Kind::Single),
    ("unpack", Kind::Bool),
    ("exclude", Kind::Repeated),
];

/// Splits the arguments into sources and destination, resolving heredoc
/// sources against the bodies read after the line.
fn sources_and_dest(raw: &RawInstruction) -> Result<(Vec<CopySource>, String), ErrorKind> {
    let mut args = match json_array(&raw.rest)? {
        Json::Array(args) => args,
        Json::NotJson => split_fields(&raw.rest),
    };
    let dest = match args.pop() {
        Some(dest) if !args.is_empty() => dest,
        _ => return Err(ErrorKind::NoDestination),
    };
    if parse_marker(&dest).is_some() {
        return Err(ErrorKind::HeredocAsDestination);
    }
    let sources = args
        .into_iter()
        .map(|arg| match parse_marker(&arg) {
            Some(marker) => {
                CopySource::Heredoc(match raw.heredocs.iter().find(|h| h.name == marker.name) {
                    Some(heredoc) => heredoc.clone(),
                    // JSON form reads no bodies: Docker creates an empty file.
                    None => marker.with_body(""),
                })
            }
            None => CopySource::Path(arg),
        })
        .collect();
    Ok((sources, dest))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

pub(super) fn parse_copy(raw: RawInstruction) -> Result<Copy, ErrorKind> {
    let (sources, dest) = sources_and_dest(&raw)?;
    let flags = Flags::parse(&raw.flags, COPY_FLAGS)?;
    let from = non_empty(flags.single("from"));
    if let Some(from) = &from {
        let lexer = ShellWords::new(raw.escape);
        if lexer.word(from, &NoVars).ok().as_ref() != Some(from) {
            return Err(ErrorKind::FromFlagExpansion);
        }
    }
    Ok(Copy {
        source: raw.source,
        from,
        chown: non_empty(flags.single("chown")),
        chmod: non_empty(flags.single("chmod")),
        link: flags.boolean("link").unwrap_or(false),
        parents: flags.boolean("parents").unwrap_or(false),
        excludes: flags.repeated("exclude"),
        sources,
        dest,
    })
}

pub(super) fn parse_add(raw: RawInstruction) -> Result<Add, ErrorKind> {
    let (sources, dest) = sources_and_dest(&raw)?;
    let flags = Flags::parse(&raw.flags, ADD_FLAGS)?;
    Ok(Add {
        source: raw.source,
        chown: non_empty(flags.single("chown")),
        chmod: non_empty(flags.single("chmod")),
        link: flags.boolean("link").unwrap_or(false),
        keep_git_dir: flags.boolean("keep-git-dir"),
        checksum: non_empty(flags.single("checksum")),
        unpack: flags.boolean("unpack"),
        excludes: flags.repeated("exclude"),
        sources,
        dest,
    })
}
