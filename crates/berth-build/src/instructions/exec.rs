//! Instructions that describe a command: `RUN`, `CMD`, `ENTRYPOINT`, and
//! `SHELL` (which sets the shell the others' shell form runs under).
//!
//! None of these expand variables at build time: the shell (or nothing, in
//! exec form) sees the text as written.

use serde::{Deserialize, Serialize};

use super::{no_flags, RawInstruction, Source};
use crate::error::ErrorKind;
use crate::flags::{Flag, Flags, Kind};
use crate::heredoc::Heredoc;
use crate::words::{json_array, Json};

/// The two ways of writing a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandForm {
    /// JSON array form (`["echo", "hi"]`), run without a shell.
    Exec(Vec<String>),
    /// Shell form (`echo hi`), run as `<SHELL> "echo hi"`.
    Shell(String),
}

impl CommandForm {
    /// Parses the arguments of `RUN`/`CMD`/`ENTRYPOINT`/`HEALTHCHECK CMD`.
    pub(crate) fn parse(rest: &str) -> Result<CommandForm, ErrorKind> {
        Ok(match json_array(rest)? {
            Json::Array(args) => CommandForm::Exec(args),
            Json::NotJson => CommandForm::Shell(rest.to_string()),
        })
    }

    /// The argv Docker stores, given the current `SHELL` (default
    /// `["/bin/sh", "-c"]`): exec form as is, shell form appended to the shell.
    pub fn to_argv(&self, shell: &[String]) -> Vec<String> {
        match self {
            CommandForm::Exec(args) => args.clone(),
            CommandForm::Shell(line) => shell.iter().cloned().chain(std::iter::once(line.clone())).collect(),
        }
    }

    /// Whether this is the JSON form.
    pub fn is_exec(&self) -> bool {
        matches!(self, CommandForm::Exec(_))
    }
}

/// `RUN [--mount=...] [--network=...] [--security=...] [--device=...] command`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// The flags in source order (`mount`, `network`, `security`, `device`).
    /// Values are raw; [`crate::Instruction::expand`] expands them.
    pub flags: Vec<Flag>,
    /// What to run.
    pub command: CommandForm,
    /// Heredocs following the line (shell form only).
    pub heredocs: Vec<Heredoc>,
}

impl Run {
    /// Values of every `--mount` flag, in order.
    pub fn mounts(&self) -> Vec<&str> {
        self.flag_values("mount").collect()
    }

    /// The `--network` mode, when given (`default`, `none` or `host`).
    pub fn network(&self) -> Option<&str> {
        self.flag_values("network").next()
    }

    /// The `--security` mode, when given (`sandbox` or `insecure`).
    pub fn security(&self) -> Option<&str> {
        self.flag_values("security").next()
    }

    fn flag_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.flags.iter().filter(move |f| f.name == name).filter_map(|f| f.value.as_deref())
    }
}

/// `CMD`: the default command of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cmd {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// The command.
    pub command: CommandForm,
}

/// `ENTRYPOINT`: the entrypoint of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entrypoint {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// The command.
    pub command: CommandForm,
}

/// `SHELL ["executable", "args"...]` (JSON form only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shell {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// The new shell argv prefix.
    pub shell: Vec<String>,
}

const RUN_FLAGS: &[(&str, Kind)] = &[("mount", Kind::Repeated), ("network", Kind::Single), ("security", Kind::Single), ("device", Kind::Repeated)];

pub(super) fn parse_run(raw: RawInstruction) -> Result<Run, ErrorKind> {
    let flags = Flags::parse(&raw.flags, RUN_FLAGS)?;
    check_choice(&flags, "network", &["default", "none", "host"], "default, none or host")?;
    check_choice(&flags, "security", &["sandbox", "insecure"], "sandbox or insecure")?;
    let command = CommandForm::parse(&raw.rest)?;
    Ok(Run { source: raw.source, flags: flags.into_list(), command, heredocs: raw.heredocs })
}

fn check_choice(flags: &Flags, name: &str, allowed: &[&str], expected: &'static str) -> Result<(), ErrorKind> {
    match flags.single(name) {
        Some(value) if !allowed.contains(&value.as_str()) => Err(ErrorKind::InvalidFlagValue { flag: format!("--{name}"), value, expected }),
        _ => Ok(()),
    }
}

pub(super) fn parse_cmd(raw: RawInstruction) -> Result<Cmd, ErrorKind> {
    no_flags(&raw)?;
    Ok(Cmd { command: CommandForm::parse(&raw.rest)?, source: raw.source })
}

pub(super) fn parse_entrypoint(raw: RawInstruction) -> Result<Entrypoint, ErrorKind> {
    no_flags(&raw)?;
    Ok(Entrypoint { command: CommandForm::parse(&raw.rest)?, source: raw.source })
}

pub(super) fn parse_shell(raw: RawInstruction) -> Result<Shell, ErrorKind> {
    no_flags(&raw)?;
    match json_array(&raw.rest)? {
        Json::Array(shell) if shell.is_empty() => Err(ErrorKind::AtLeastOneArgument),
        Json::Array(shell) => Ok(Shell { source: raw.source, shell }),
        Json::NotJson if raw.rest.is_empty() => Err(ErrorKind::AtLeastOneArgument),
        Json::NotJson => Err(ErrorKind::NotJson),
    }
}
