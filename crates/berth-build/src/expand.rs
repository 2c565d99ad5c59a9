//! Which parts of each instruction Docker expands, and how.
//!
//! | instruction | expanded |
//! |---|---|
//! | `ENV`, `LABEL` | keys and values |
//! | `ARG` | defaults (names never); see [`Arg::resolve`] for full semantics |
//! | `COPY`, `ADD` | source paths, destination, `--chown`, `--chmod`, `--checksum`, heredoc bodies unless the delimiter was quoted |
//! | `WORKDIR`, `USER`, `STOPSIGNAL`, `VOLUME` | their value(s), as one word each |
//! | `EXPOSE` | each word, then split into fields |
//! | `RUN` | `--mount` values only (the command is left to the shell) |
//! | `CMD`, `ENTRYPOINT`, `SHELL`, `HEALTHCHECK`, `MAINTAINER`, `ONBUILD` | nothing |
//!
//! `FROM` is expanded with global args only: [`crate::Stage::resolve_base`].
//! `COPY --from` is never expanded (the parser rejects `$` in it).

use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::instructions::{Add, Arg, ArgDef, Copy, CopySource, Instruction, KeyValue, Run};
use crate::shell_words::{Overlay, ShellWords, Vars};

/// One `ARG` after resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedArg {
    /// The argument name.
    pub name: String,
    /// Its value; `None` when declared without default, build arg or global
    /// value (the variable stays unset).
    pub value: Option<String>,
}

struct Ctx<'a> {
    lexer: &'a ShellWords,
    vars: &'a dyn Vars,
}

impl Ctx<'_> {
    fn word(&self, word: &str) -> Result<String, ErrorKind> {
        self.lexer.word(word, self.vars).map_err(|source| ErrorKind::Expand { word: word.to_string(), source })
    }

    fn opt(&self, word: &Option<String>) -> Result<Option<String>, ErrorKind> {
        word.as_deref().map(|w| self.word(w)).transpose()
    }

    fn all(&self, words: &[String]) -> Result<Vec<String>, ErrorKind> {
        words.iter().map(|w| self.word(w)).collect()
    }

    fn pairs(&self, pairs: &[KeyValue]) -> Result<Vec<KeyValue>, ErrorKind> {
        pairs.iter().map(|kv| Ok(KeyValue { key: self.word(&kv.key)?, value: self.word(&kv.value)? })).collect()
    }

    fn sources(&self, sources: &[CopySource]) -> Result<Vec<CopySource>, ErrorKind> {
        sources
            .iter()
            .map(|source| match source {
                CopySource::Path(path) => Ok(CopySource::Path(self.word(path)?)),
                CopySource::Heredoc(doc) if doc.expand => {
                    let content =
                        ShellWords::heredoc_body(&doc.content, self.vars).map_err(|source| ErrorKind::Expand { word: doc.content.clone(), source })?;
                    Ok(CopySource::Heredoc(crate::Heredoc { content, ..doc.clone() }))
                }
                CopySource::Heredoc(doc) => Ok(CopySource::Heredoc(doc.clone())),
            })
            .collect()
    }

    fn copy(&self, c: &Copy) -> Result<Copy, ErrorKind> {
        Ok(Copy { chown: self.opt(&c.chown)?, chmod: self.opt(&c.chmod)?, sources: self.sources(&c.sources)?, dest: self.word(&c.dest)?, ..c.clone() })
    }

    fn add(&self, a: &Add) -> Result<Add, ErrorKind> {
        Ok(Add {
            chown: self.opt(&a.chown)?,
            chmod: self.opt(&a.chmod)?,
            checksum: self.opt(&a.checksum)?,
            sources: self.sources(&a.sources)?,
            dest: self.word(&a.dest)?,
            ..a.clone()
        })
    }

    fn run(&self, r: &Run) -> Result<Run, ErrorKind> {
        let mut run = r.clone();
        for flag in run.flags.iter_mut().filter(|f| f.name == "mount") {
            flag.value = self.opt(&flag.value)?;
        }
        Ok(run)
    }
}

impl Instruction {
    /// Returns the instruction with every part Docker expands expanded
    /// against `vars` (the stage's current `ENV` + `ARG` scope), following
    /// the table in this module's docs. Quotes are removed from expanded
    /// words. Other parts, and non-expanding instructions, are returned
    /// unchanged.
    pub fn expand(&self, lexer: &ShellWords, vars: &dyn Vars) -> Result<Instruction, ErrorKind> {
        let cx = Ctx { lexer, vars };
        Ok(match self {
            Instruction::Env(e) => Instruction::Env(crate::instructions::Env { vars: cx.pairs(&e.vars)?, ..e.clone() }),
            Instruction::Label(l) => Instruction::Label(crate::instructions::Label { labels: cx.pairs(&l.labels)?, ..l.clone() }),
            Instruction::Arg(a) => {
                let resolved = a.resolve(lexer, vars, &crate::NoVars, &crate::NoVars)?;
                let args = resolved.into_iter().map(|r| ArgDef { name: r.name, default: r.value }).collect();
                Instruction::Arg(Arg { args, ..a.clone() })
            }
            Instruction::Expose(e) => {
                let mut ports = Vec::new();
                for word in &e.ports {
                    ports.extend(lexer.words(word, vars).map_err(|source| ErrorKind::Expand { word: word.clone(), source })?);
                }
                Instruction::Expose(crate::instructions::Expose { ports, ..e.clone() })
            }
            Instruction::Volume(v) => Instruction::Volume(crate::instructions::Volume { paths: cx.all(&v.paths)?, ..v.clone() }),
            Instruction::User(u) => Instruction::User(crate::instructions::User { user: cx.word(&u.user)?, ..u.clone() }),
            Instruction::Workdir(w) => Instruction::Workdir(crate::instructions::Workdir { path: cx.word(&w.path)?, ..w.clone() }),
            Instruction::StopSignal(s) => Instruction::StopSignal(crate::instructions::StopSignal { signal: cx.word(&s.signal)?, ..s.clone() }),
            Instruction::Copy(c) => Instruction::Copy(cx.copy(c)?),
            Instruction::Add(a) => Instruction::Add(cx.add(a)?),
            Instruction::Run(r) => Instruction::Run(cx.run(r)?),
            other => other.clone(),
        })
    }
}

impl Arg {
    /// Resolves each declared argument as Docker does inside a stage: a
    /// build arg wins, else the default (expanded against `scope` plus the
    /// arguments resolved earlier on this line), else the global arg of the
    /// same name, else unset.
    pub fn resolve(&self, lexer: &ShellWords, scope: &dyn Vars, build_args: &dyn Vars, global_args: &dyn Vars) -> Result<Vec<ResolvedArg>, ErrorKind> {
        let mut earlier: Vec<(String, String)> = Vec::new();
        let mut out = Vec::with_capacity(self.args.len());
        for def in &self.args {
            let value = if let Some(value) = build_args.var(&def.name) {
                Some(value.to_string())
            } else if let Some(default) = &def.default {
                let vars = Overlay { top: &earlier, base: scope };
                Some(lexer.word(default, &vars).map_err(|source| ErrorKind::Expand { word: default.clone(), source })?)
            } else {
                global_args.var(&def.name).map(str::to_string)
            };
            if let Some(value) = &value {
                earlier.push((def.name.clone(), value.clone()));
            }
            out.push(ResolvedArg { name: def.name.clone(), value });
        }
        Ok(out)
    }
}
