//! berth-build: the Dockerfile front end of berth's image builder.
//!
//! This crate turns Dockerfile text into a typed, validated [`Dockerfile`]
//! and provides the pieces a builder needs to execute it, without touching
//! the host:
//!
//! * [`Dockerfile::parse`] / [`Dockerfile::parse_named`]: directives
//!   (`# syntax=`, `# escape=`, `# check=`), line continuations, comments,
//!   heredocs, JSON and shell forms, flags, every instruction, stages and
//!   global `ARG`s. Parsing never expands variables: fields that Docker
//!   expands hold the raw words.
//! * [`ShellWords`]: Docker's word expansion (quotes, escapes, `$v`,
//!   `${v:-d}` and friends) against an explicit [`Vars`] scope.
//! * [`Instruction::expand`] / [`Dockerfile::expand`]: applies expansion
//!   to exactly the parts Docker expands (see the `expand` module docs),
//!   [`Arg::resolve`], [`Dockerfile::resolve_global_args`] and
//!   [`Stage::resolve_base`] for the `ARG`/`FROM` scoping rules.
//! * [`DockerIgnore`]: `.dockerignore` matching with `!` exceptions.
//!
//! Invariants: no input makes these functions panic; expansion work and
//! output are bounded; every [`Error`] names the file, line and instruction.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod directives;
mod dockerfile;
mod dockerignore;
mod duration;
mod error;
mod expand;
mod flags;
mod heredoc;
mod instructions;
mod lines;
mod parser;
mod ports;
mod shell_words;
mod stage;
mod suggest;
mod words;

pub use directives::Directives;
pub use dockerfile::{Dockerfile, FromRef, Warning, DEFAULT_FILE_NAME};
pub use dockerignore::{DockerIgnore, IgnoreError};
pub use duration::parse_duration;
pub use error::{Error, ErrorCategory, ErrorKind, Location};
pub use expand::ResolvedArg;
pub use flags::Flag;
pub use heredoc::Heredoc;
pub use instructions::{
    Add, Arg, ArgDef, Cmd, CommandForm, Copy, CopySource, Entrypoint, Env, Expose, Healthcheck, HealthcheckCmd, HealthcheckSpec, Instruction, KeyValue, Label,
    Maintainer, Onbuild, Run, Shell, Source, StopSignal, User, Volume, Workdir,
};
pub use ports::parse_ports;
pub use shell_words::{ExpandError, NoVars, Overlay, ShellWords, Vars, MAX_EXPANDED_LEN, MAX_NESTING, MAX_PATTERN_STEPS};
pub use stage::{ResolvedBase, Stage};

/// Parses Dockerfile text, reporting errors against `"Dockerfile"`.
/// Shorthand for [`Dockerfile::parse`].
pub fn parse(text: &str) -> Result<Dockerfile, Error> {
    Dockerfile::parse(text)
}
