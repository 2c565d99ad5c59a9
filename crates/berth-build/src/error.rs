//! Errors reported while parsing a Dockerfile or expanding its instructions.
//!
//! Every error carries a [`Location`] (file name, line and, when known, the
//! instruction keyword) so a message always reads like
//! `Dockerfile:7: COPY: unknown flag: --frm (did you mean --from?)`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::shell_words::ExpandError;

/// Where an error happened: the caller-supplied file name, the 1-based line
/// the instruction starts on, and the instruction keyword when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// File name given by the caller (`"Dockerfile"` by default).
    pub file: String,
    /// 1-based line number where the offending instruction starts.
    pub line: usize,
    /// Upper-cased instruction keyword (`"RUN"`), absent for file-level errors.
    pub instruction: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(instruction) = &self.instruction {
            write!(f, ": {instruction}")?;
        }
        Ok(())
    }
}

/// A Dockerfile error together with the place it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct Error {
    /// Where the error happened.
    pub location: Location,
    /// What went wrong (boxed to keep `Result<_, Error>` small).
    #[source]
    pub kind: Box<ErrorKind>,
}

impl Error {
    /// Builds an error at `location`.
    pub fn new(location: Location, kind: ErrorKind) -> Self {
        Self { location, kind: Box::new(kind) }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Broad category of the error, for mapping onto API status codes.
    pub fn category(&self) -> ErrorCategory {
        self.kind.category()
    }
}

/// Broad category of an [`Error`]: every Dockerfile error is the caller's
/// fault (an invalid input), except exhausted safety limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    /// The Dockerfile (or a build argument) is malformed.
    Invalid,
    /// A safety bound (expansion size or nesting) was hit.
    LimitExceeded,
}

/// Everything that can be wrong with a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The file holds no instruction at all.
    #[error("file with no instructions")]
    EmptyFile,
    /// There are instructions but no `FROM`, so nothing can be built.
    #[error("dockerfile contains no stages to build (missing FROM)")]
    NoStages,
    /// An instruction other than `ARG` appears before the first `FROM`.
    #[error("no build stage in current context (instruction before the first FROM)")]
    InstructionBeforeFrom,
    /// The first word of a line is not a Dockerfile instruction.
    #[error("unknown instruction: {name}{}", suggest(suggestion))]
    UnknownInstruction {
        /// The word as written.
        name: String,
        /// Closest known instruction, when one is near.
        suggestion: Option<String>,
    },
    /// The same parser directive appears twice.
    #[error("only one {name} parser directive can be used")]
    DuplicateDirective {
        /// Directive name, lower-cased.
        name: String,
    },
    /// `# escape=` names something other than a backslash or backtick.
    #[error("invalid escape token '{value}' does not match ` or \\")]
    InvalidEscapeToken {
        /// The value given.
        value: String,
    },
    /// A line continuation runs into the end of the file with nothing after it.
    #[error("unexpected end of file after line continuation")]
    ContinuationAtEof,
    /// A heredoc body never reaches its terminator line.
    #[error("unterminated heredoc \"{name}\"")]
    UnterminatedHeredoc {
        /// The heredoc delimiter that was expected.
        name: String,
    },
    /// A heredoc was used where a destination path is required.
    #[error("cannot accept a heredoc as a destination")]
    HeredocAsDestination,
    /// A JSON array contains something other than strings.
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    JsonNotStrings,
    /// The instruction only accepts the JSON (exec) form.
    #[error("requires the arguments to be in JSON form")]
    NotJson,
    /// A `--flag` the instruction does not know.
    #[error("unknown flag: {flag}{}", suggest(suggestion))]
    UnknownFlag {
        /// The flag as written, with its dashes.
        flag: String,
        /// Closest known flag, when one is near.
        suggestion: Option<String>,
    },
    /// A single-valued flag given twice.
    #[error("duplicate flag specified: {flag}")]
    DuplicateFlag {
        /// The flag as written.
        flag: String,
    },
    /// A flag that needs `=value` has none (or an empty one).
    #[error("missing a value on flag: {flag}")]
    MissingFlagValue {
        /// The flag as written.
        flag: String,
    },
    /// A boolean flag with something other than true/false.
    #[error("expecting boolean value for flag {flag}, not: {value}")]
    InvalidBoolFlag {
        /// The flag as written.
        flag: String,
        /// The value given.
        value: String,
    },
    /// A flag value outside the accepted set (`--network=bogus`).
    #[error("invalid value {value:?} for {flag} (expected {expected})")]
    InvalidFlagValue {
        /// The flag as written.
        flag: String,
        /// The value given.
        value: String,
        /// Human-readable list of accepted values.
        expected: &'static str,
    },
    /// The instruction got no argument at all.
    #[error("requires at least one argument")]
    AtLeastOneArgument,
    /// The instruction takes exactly one argument.
    #[error("requires exactly one argument")]
    ExactlyOneArgument,
    /// `COPY`/`ADD` with a single path.
    #[error("requires at least two arguments, but only one was provided: destination could not be determined")]
    NoDestination,
    /// `FROM` must be `FROM image` or `FROM image AS name`.
    #[error("requires either one or three arguments")]
    FromArguments,
    /// Legacy `ENV key value` form without a value.
    #[error("must have two arguments")]
    LegacyNeedsValue,
    /// An `ENV`/`LABEL`/`ARG` name is empty.
    #[error("names can not be blank")]
    BlankName,
    /// An `ENV`/`LABEL` word in `k=v` form lacks its `=`.
    #[error("syntax error - can't find = in {word:?}: must be of the form name=value")]
    MissingEquals {
        /// The offending word.
        word: String,
    },
    /// `FROM x AS name` where name is not `[a-z][a-z0-9-_.]*`.
    #[error("invalid name for build stage: {name:?}, name can't start with a number or contain symbols")]
    InvalidStageName {
        /// The name as written.
        name: String,
    },
    /// `ONBUILD ONBUILD ...`.
    #[error("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChained,
    /// `ONBUILD FROM` or `ONBUILD MAINTAINER`.
    #[error("{trigger} isn't allowed as an ONBUILD trigger")]
    OnbuildForbidden {
        /// The forbidden trigger keyword.
        trigger: String,
    },
    /// A duration flag that does not parse (`--interval=soon`).
    #[error("invalid duration {value:?} for {flag}")]
    InvalidDuration {
        /// The flag as written.
        flag: String,
        /// The value given.
        value: String,
    },
    /// A non-zero duration below one millisecond.
    #[error("interval {flag} cannot be less than 1ms")]
    DurationTooShort {
        /// The flag as written.
        flag: String,
    },
    /// `--retries` that is not a non-negative 32-bit integer.
    #[error("invalid value {value:?} for --retries (expected a non-negative integer)")]
    InvalidRetries {
        /// The value given.
        value: String,
    },
    /// `HEALTHCHECK NONE` followed by more words.
    #[error("NONE takes no arguments")]
    HealthcheckNoneArgs,
    /// `HEALTHCHECK CMD` with nothing to run.
    #[error("missing command after HEALTHCHECK CMD")]
    HealthcheckMissingCommand,
    /// `HEALTHCHECK` with a type other than `CMD` or `NONE`.
    #[error("unknown type {kind:?} in HEALTHCHECK (try CMD)")]
    HealthcheckUnknownType {
        /// The type as written, upper-cased.
        kind: String,
    },
    /// `VOLUME` with an empty path.
    #[error("VOLUME specified can not be an empty string")]
    EmptyVolume,
    /// `COPY --from` holding a variable reference or quotes.
    #[error("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")]
    FromFlagExpansion,
    /// `COPY --from=N` with N not naming an existing stage.
    #[error("invalid stage index {index}")]
    InvalidStageIndex {
        /// The index given.
        index: String,
    },
    /// A stage that copies from itself.
    #[error("circular dependency detected on stage: {name}")]
    CircularStage {
        /// The stage name or index.
        name: String,
    },
    /// `COPY --from` naming a stage defined later in the file.
    #[error("cannot copy from stage {from:?}, it needs to be defined before the current stage")]
    StageNotYetDefined {
        /// The `--from` value.
        from: String,
    },
    /// `FROM` whose base image expands to nothing.
    #[error("base name ({base}) should not be blank")]
    BlankBaseName {
        /// The unexpanded base word.
        base: String,
    },
    /// `FROM --platform` whose value expands to nothing.
    #[error("empty platform value from expression {platform}")]
    BlankPlatform {
        /// The unexpanded platform word.
        platform: String,
    },
    /// An `EXPOSE` entry that is not a port, range or port/proto.
    #[error("invalid port {port:?}: {reason}")]
    InvalidPort {
        /// The port word.
        port: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Variable expansion of one word failed.
    #[error("failed to process {word:?}: {source}")]
    Expand {
        /// The word being expanded.
        word: String,
        /// Why it failed.
        source: ExpandError,
    },
}

impl ErrorKind {
    /// Broad category of this error.
    pub fn category(&self) -> ErrorCategory {
        match self {
            ErrorKind::Expand { source, .. } if source.is_limit() => ErrorCategory::LimitExceeded,
            _ => ErrorCategory::Invalid,
        }
    }
}

fn suggest(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean {s}?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_file_line_and_instruction() {
        let err =
            Error::new(Location { file: "Dockerfile".into(), line: 3, instruction: Some("RUN".into()) }, ErrorKind::UnterminatedHeredoc { name: "EOF".into() });
        assert_eq!(err.to_string(), "Dockerfile:3: RUN: unterminated heredoc \"EOF\"");
    }
}
