//! The parsed Dockerfile and the whole-file questions a builder asks of it:
//! global args, stage references, expansion with file-level context.

use serde::{Deserialize, Serialize};

use crate::directives::Directives;
use crate::error::{Error, ErrorKind, Location};
use crate::instructions::{Arg, Instruction};
use crate::shell_words::{ShellWords, Vars};
use crate::stage::Stage;

/// Default file name used in error messages.
pub const DEFAULT_FILE_NAME: &str = "Dockerfile";

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dockerfile {
    /// Name used in error messages (not serialized).
    #[serde(skip, default = "default_file_name")]
    pub file: String,
    /// Parser directives from the top of the file.
    pub directives: Directives,
    /// `ARG`s before the first `FROM`: usable in `FROM` lines, and inside a
    /// stage once re-declared there with `ARG name`.
    pub global_args: Vec<Arg>,
    /// Build stages in file order; the last one is the default target.
    pub stages: Vec<Stage>,
    /// Non-fatal findings (deprecated forms, empty continuation lines).
    pub warnings: Vec<Warning>,
}

fn default_file_name() -> String {
    DEFAULT_FILE_NAME.to_string()
}

/// A non-fatal finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// 1-based line.
    pub line: usize,
    /// What was found.
    pub message: String,
}

/// What a `COPY --from` value refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FromRef {
    /// An earlier stage, by index into [`Dockerfile::stages`].
    Stage(usize),
    /// An image reference (anything that is not a stage name or index).
    Image(String),
}

impl Dockerfile {
    /// Parses Dockerfile text; errors are reported against `"Dockerfile"`.
    pub fn parse(text: &str) -> Result<Dockerfile, Error> {
        crate::parser::parse(text, DEFAULT_FILE_NAME)
    }

    /// Parses Dockerfile text; errors are reported against `file`.
    pub fn parse_named(text: &str, file: &str) -> Result<Dockerfile, Error> {
        crate::parser::parse(text, file)
    }

    /// Parses raw bytes (invalid UTF-8 is replaced, never rejected).
    pub fn parse_bytes(bytes: &[u8], file: &str) -> Result<Dockerfile, Error> {
        crate::parser::parse(&String::from_utf8_lossy(bytes), file)
    }

    /// The expander configured with this file's escape character.
    pub fn shell_words(&self) -> ShellWords {
        ShellWords::new(self.directives.escape)
    }

    fn error(&self, line: usize, instruction: Option<&str>, kind: ErrorKind) -> Error {
        Error::new(Location { file: self.file.clone(), line, instruction: instruction.map(str::to_string) }, kind)
    }

    /// Resolves the global args in order: a build arg (`--build-arg`)
    /// overrides the default; defaults may refer to earlier global args; an
    /// arg with neither stays unset (absent from the result).
    pub fn resolve_global_args(&self, build_args: &dyn Vars) -> Result<Vec<(String, String)>, Error> {
        let lexer = self.shell_words();
        let mut resolved: Vec<(String, String)> = Vec::new();
        for arg in &self.global_args {
            for def in &arg.args {
                let value = match (build_args.var(&def.name), &def.default) {
                    (Some(value), _) => Some(value.to_string()),
                    (None, Some(default)) => Some(lexer.word(default, &resolved).map_err(|source| {
                        let kind = ErrorKind::Expand { word: default.clone(), source };
                        self.error(arg.source.line, Some("ARG"), kind)
                    })?),
                    (None, None) => None,
                };
                if let Some(value) = value {
                    resolved.retain(|(k, _)| *k != def.name);
                    resolved.push((def.name.clone(), value));
                }
            }
        }
        Ok(resolved)
    }

    /// Expands `stage`'s base and platform with resolved global args,
    /// reporting errors at the `FROM` line.
    pub fn resolve_base(&self, stage: &Stage, global_args: &dyn Vars) -> Result<crate::ResolvedBase, Error> {
        stage.resolve_base(&self.shell_words(), global_args).map_err(|kind| self.error(stage.line, Some("FROM"), kind))
    }

    /// The earlier stage a (resolved) `FROM` base names, if any: stage names
    /// are case-insensitive and only stages before `current` count.
    pub fn base_stage(&self, base: &str, current: usize) -> Option<usize> {
        let base = base.to_lowercase();
        self.stages.get(..current)?.iter().rposition(|s| s.name.as_deref() == Some(base.as_str()))
    }

    /// Resolves a `COPY --from` value used in stage `current`: a stage name
    /// (case-insensitive), a stage index, or else an image reference. The
    /// stage must come before `current`.
    pub fn resolve_from(&self, from: &str, current: usize) -> Result<FromRef, ErrorKind> {
        let index = if let Ok(index) = from.parse::<i64>() {
            usize::try_from(index).ok().filter(|i| *i < self.stages.len()).ok_or_else(|| ErrorKind::InvalidStageIndex { index: from.to_string() })?
        } else {
            let name = from.to_lowercase();
            match self.stages.iter().rposition(|s| s.name.as_deref() == Some(name.as_str())) {
                Some(index) => index,
                None => return Ok(FromRef::Image(from.to_string())),
            }
        };
        if index == current {
            return Err(ErrorKind::CircularStage { name: from.to_string() });
        }
        if index > current {
            return Err(ErrorKind::StageNotYetDefined { from: from.to_string() });
        }
        Ok(FromRef::Stage(index))
    }

    /// Checks every `COPY --from` of every stage (run by the parser).
    pub(crate) fn check_stage_references(&self) -> Result<(), Error> {
        for (index, stage) in self.stages.iter().enumerate() {
            for instruction in &stage.instructions {
                if let Instruction::Copy(copy) = instruction {
                    if let Some(from) = &copy.from {
                        self.resolve_from(from, index).map_err(|kind| self.error(copy.source.line, Some("COPY"), kind))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Expands `instruction` per Docker's rules (see
    /// [`Instruction::expand`]) with this file's escape character, reporting
    /// errors with file, line and keyword.
    pub fn expand(&self, instruction: &Instruction, vars: &dyn Vars) -> Result<Instruction, Error> {
        instruction.expand(&self.shell_words(), vars).map_err(|kind| self.error(instruction.line(), Some(instruction.keyword()), kind))
    }
}
