//! The typed instructions of a build stage, and the dispatch from an
//! instruction line to its parser.
//!
//! Fields that Docker expands hold *raw* words here: quotes, escapes and
//! `$var` references exactly as written. [`Instruction::expand`] (see
//! `crate::expand`) turns them into final values for a given scope.

mod exec;
mod files;
mod healthcheck;
mod onbuild;
mod settings;
mod vars;

use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::heredoc::Heredoc;
use crate::suggest::closest;

pub use exec::{Cmd, CommandForm, Entrypoint, Run, Shell};
pub use files::{Add, Copy, CopySource};
pub use healthcheck::{Healthcheck, HealthcheckCmd, HealthcheckSpec};
pub use onbuild::Onbuild;
pub use settings::{Expose, Maintainer, StopSignal, User, Volume, Workdir};
pub(crate) use vars::is_legacy_form;
pub use vars::{Arg, ArgDef, Env, KeyValue, Label};

/// Where an instruction came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// 1-based line where it ends (after continuations and heredoc bodies).
    pub end_line: usize,
    /// The instruction text after joining continuation lines, trimmed
    /// (heredoc bodies are not included). Used for build history.
    pub original: String,
}

/// One instruction inside a stage (everything except `FROM`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "instruction", rename_all = "UPPERCASE")]
pub enum Instruction {
    /// `RUN`.
    Run(Run),
    /// `CMD`.
    Cmd(Cmd),
    /// `ENTRYPOINT`.
    Entrypoint(Entrypoint),
    /// `SHELL`.
    Shell(Shell),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `ENV`.
    Env(Env),
    /// `ARG` inside a stage.
    Arg(Arg),
    /// `LABEL`.
    Label(Label),
    /// `EXPOSE`.
    Expose(Expose),
    /// `VOLUME`.
    Volume(Volume),
    /// `USER`.
    User(User),
    /// `WORKDIR`.
    Workdir(Workdir),
    /// `STOPSIGNAL`.
    StopSignal(StopSignal),
    /// `COPY`.
    Copy(Copy),
    /// `ADD`.
    Add(Add),
    /// `ONBUILD`.
    Onbuild(Onbuild),
    /// `MAINTAINER` (deprecated, still accepted).
    Maintainer(Maintainer),
}

impl Instruction {
    /// Upper-case keyword (`"RUN"`).
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Shell(_) => "SHELL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Volume(_) => "VOLUME",
            Instruction::User(_) => "USER",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }

    /// Where the instruction came from.
    pub fn source(&self) -> &Source {
        match self {
            Instruction::Run(i) => &i.source,
            Instruction::Cmd(i) => &i.source,
            Instruction::Entrypoint(i) => &i.source,
            Instruction::Shell(i) => &i.source,
            Instruction::Healthcheck(i) => &i.source,
            Instruction::Env(i) => &i.source,
            Instruction::Arg(i) => &i.source,
            Instruction::Label(i) => &i.source,
            Instruction::Expose(i) => &i.source,
            Instruction::Volume(i) => &i.source,
            Instruction::User(i) => &i.source,
            Instruction::Workdir(i) => &i.source,
            Instruction::StopSignal(i) => &i.source,
            Instruction::Copy(i) => &i.source,
            Instruction::Add(i) => &i.source,
            Instruction::Onbuild(i) => &i.source,
            Instruction::Maintainer(i) => &i.source,
        }
    }

    /// 1-based line the instruction starts on.
    pub fn line(&self) -> usize {
        self.source().line
    }
}

/// Every keyword the parser knows, for "did you mean" hints.
pub(crate) const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Whether an instruction with this (upper-case) keyword may carry heredocs.
pub(crate) fn takes_heredocs(keyword: &str) -> bool {
    matches!(keyword, "RUN" | "COPY" | "ADD")
}

/// An instruction line split up and ready for its typed parser.
#[derive(Debug, Clone)]
pub(crate) struct RawInstruction {
    /// Upper-cased keyword.
    pub keyword: String,
    /// Raw `--flag[=value]` words.
    pub flags: Vec<String>,
    /// Arguments after the flags, trimmed.
    pub rest: String,
    /// Heredocs that followed the line.
    pub heredocs: Vec<Heredoc>,
    /// The active escape character.
    pub escape: char,
    /// Position and text.
    pub source: Source,
}

/// Parses every instruction except `FROM` (handled by the caller because it
/// opens a stage rather than joining one).
pub(crate) fn parse(raw: RawInstruction) -> Result<Instruction, ErrorKind> {
    Ok(match raw.keyword.as_str() {
        "RUN" => Instruction::Run(exec::parse_run(raw)?),
        "CMD" => Instruction::Cmd(exec::parse_cmd(raw)?),
        "ENTRYPOINT" => Instruction::Entrypoint(exec::parse_entrypoint(raw)?),
        "SHELL" => Instruction::Shell(exec::parse_shell(raw)?),
        "HEALTHCHECK" => Instruction::Healthcheck(healthcheck::parse(raw)?),
        "ENV" => Instruction::Env(vars::parse_env(raw)?),
        "ARG" => Instruction::Arg(vars::parse_arg(raw)?),
        "LABEL" => Instruction::Label(vars::parse_label(raw)?),
        "EXPOSE" => Instruction::Expose(settings::parse_expose(raw)?),
        "VOLUME" => Instruction::Volume(settings::parse_volume(raw)?),
        "USER" => Instruction::User(settings::parse_user(raw)?),
        "WORKDIR" => Instruction::Workdir(settings::parse_workdir(raw)?),
        "STOPSIGNAL" => Instruction::StopSignal(settings::parse_stopsignal(raw)?),
        "MAINTAINER" => Instruction::Maintainer(settings::parse_maintainer(raw)?),
        "COPY" => Instruction::Copy(files::parse_copy(raw)?),
        "ADD" => Instruction::Add(files::parse_add(raw)?),
        "ONBUILD" => Instruction::Onbuild(onbuild::parse(raw)?),
        _ => return Err(unknown(&raw.keyword)),
    })
}

/// The error for a keyword that is not an instruction.
pub(crate) fn unknown(keyword: &str) -> ErrorKind {
    ErrorKind::UnknownInstruction { name: keyword.to_string(), suggestion: closest(keyword, KEYWORDS).map(str::to_string) }
}

/// Rejects any flag on instructions that take none.
pub(crate) fn no_flags(raw: &RawInstruction) -> Result<(), ErrorKind> {
    crate::flags::Flags::parse(&raw.flags, &[]).map(|_| ())
}

#[cfg(test)]
mod tests;
