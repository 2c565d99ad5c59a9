//! Build stages: a `FROM` line and the instructions that follow it.

use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::flags::{Flags, Kind};
use crate::instructions::{Instruction, Source};
use crate::shell_words::{ShellWords, Vars};
use crate::words::split_fields;

/// One build stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// `AS name`, lower-cased; `None` for anonymous stages.
    pub name: Option<String>,
    /// The base: an image reference, `scratch`, or an earlier stage's name.
    /// Raw: may hold `$ARG` references to global args (see
    /// [`Stage::resolve_base`]).
    pub base: String,
    /// `--platform` (raw, may reference global args).
    pub platform: Option<String>,
    /// 1-based line of the `FROM`.
    pub line: usize,
    /// The `FROM` line as written (continuations joined).
    pub original: String,
    /// The stage's instructions in order.
    pub instructions: Vec<Instruction>,
}

/// A stage's base after global-arg expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedBase {
    /// Image reference, `scratch`, or a stage name.
    pub base: String,
    /// Requested platform (`linux/arm64`), if any.
    pub platform: Option<String>,
}

impl Stage {
    /// Whether the stage starts from nothing (`FROM scratch`).
    pub fn is_scratch(base: &str) -> bool {
        base.eq_ignore_ascii_case("scratch")
    }

    /// Expands `base` and `platform` with the global args (those declared
    /// before the first `FROM`, resolved by
    /// [`crate::Dockerfile::resolve_global_args`]). Stage-local `ARG`s are
    /// never visible here, as in Docker.
    pub fn resolve_base(&self, lexer: &ShellWords, global_args: &dyn Vars) -> Result<ResolvedBase, ErrorKind> {
        let expand = |word: &str| lexer.word(word, global_args).map_err(|source| ErrorKind::Expand { word: word.to_string(), source });
        let base = expand(&self.base)?;
        if base.is_empty() {
            return Err(ErrorKind::BlankBaseName { base: self.base.clone() });
        }
        let platform = match &self.platform {
            Some(raw) => match expand(raw)? {
                p if p.is_empty() => return Err(ErrorKind::BlankPlatform { platform: raw.clone() }),
                p => Some(p),
            },
            None => None,
        };
        Ok(ResolvedBase { base, platform })
    }
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Parses `FROM [--platform=p] base [AS name]` into an empty stage.
pub(crate) fn parse_from(flags: &[String], rest: &str, source: &Source) -> Result<Stage, ErrorKind> {
    let args = split_fields(rest);
    let name = match args.as_slice() {
        [_] => None,
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            if !valid_stage_name(&lower) {
                return Err(ErrorKind::InvalidStageName { name: name.clone() });
            }
            Some(lower)
        }
        _ => return Err(ErrorKind::FromArguments),
    };
    let flags = Flags::parse(flags, &[("platform", Kind::Single)])?;
    Ok(Stage {
        name,
        base: args.first().cloned().unwrap_or_default(),
        platform: flags.single("platform").filter(|p| !p.is_empty()),
        line: source.line,
        original: source.original.clone(),
        instructions: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Source {
        Source { line: 1, end_line: 1, original: String::new() }
    }

    #[test]
    fn from_forms() {
        let stage = parse_from(&["--platform=$BUILDPLATFORM".into()], "golang:1.22 AS Build", &source());
        let stage = stage.ok();
        assert_eq!(stage.as_ref().map(|s| s.name.as_deref()), Some(Some("build")));
        assert_eq!(stage.as_ref().and_then(|s| s.platform.as_deref()), Some("$BUILDPLATFORM"));
        assert_eq!(parse_from(&[], "", &source()), Err(ErrorKind::FromArguments));
        assert_eq!(parse_from(&[], "a b", &source()), Err(ErrorKind::FromArguments));
        assert_eq!(parse_from(&[], "a AS 1x", &source()), Err(ErrorKind::InvalidStageName { name: "1x".into() }));
    }

    #[test]
    fn base_resolution() {
        let stage = parse_from(&["--platform=${P}".into()], "alpine:${V:-3}", &source()).ok();
        let globals = vec![("P".to_string(), "linux/arm64".to_string())];
        let resolved = stage.map(|s| s.resolve_base(&ShellWords::default(), &globals));
        assert_eq!(resolved, Some(Ok(ResolvedBase { base: "alpine:3".into(), platform: Some("linux/arm64".into()) })));
        let blank = parse_from(&[], "$NOPE", &source()).ok().map(|s| s.resolve_base(&ShellWords::default(), &globals));
        assert_eq!(blank, Some(Err(ErrorKind::BlankBaseName { base: "$NOPE".into() })));
    }
}
