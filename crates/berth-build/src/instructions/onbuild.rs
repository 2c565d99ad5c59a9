//! `ONBUILD <instruction>`: a trigger stored in the image and run by builds
//! that use it as their base.

use serde::{Deserialize, Serialize};

use super::{no_flags, unknown, Instruction, RawInstruction, Source, KEYWORDS};
use crate::error::ErrorKind;
use crate::words::split_command;

/// `ONBUILD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Onbuild {
    /// Position and text.
    #[serde(flatten)]
    pub source: Source,
    /// The trigger text stored in the image config (`OnBuild`): the line
    /// without the `ONBUILD` keyword, followed by any heredoc bodies and
    /// their terminators.
    pub expression: String,
    /// The trigger parsed, so mistakes surface when the parent image is
    /// built rather than in every child build. Its variables are not
    /// expanded here (the child build does that).
    pub trigger: Box<Instruction>,
}

/// The `ONBUILD` keyword and following blanks, matched case-insensitively.
fn strip_keyword(original: &str) -> &str {
    let trimmed = original.trim_start();
    match trimmed.get(..7) {
        Some(head) if head.eq_ignore_ascii_case("ONBUILD") => trimmed.get(7..).unwrap_or("").trim_start(),
        _ => trimmed,
    }
}

pub(super) fn parse(raw: RawInstruction) -> Result<Onbuild, ErrorKind> {
    if raw.rest.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument);
    }
    no_flags(&raw)?;
    let inner = split_command(&raw.rest, raw.escape);
    let keyword = inner.keyword.to_ascii_uppercase();
    match keyword.as_str() {
        "ONBUILD" => return Err(ErrorKind::OnbuildChained),
        "FROM" | "MAINTAINER" => return Err(ErrorKind::OnbuildForbidden { trigger: keyword }),
        known if KEYWORDS.contains(&known) => {}
        _ => return Err(unknown(inner.keyword)),
    }
    let text = strip_keyword(&raw.source.original).to_string();
    let mut expression = text.clone();
    for heredoc in &raw.heredocs {
        expression.push('\n');
        expression.push_str(&heredoc.content);
        expression.push_str(&heredoc.name);
    }
    let trigger = super::parse(RawInstruction {
        keyword,
        flags: inner.flags,
        rest: inner.rest,
        heredocs: raw.heredocs.clone(),
        escape: raw.escape,
        source: Source { original: text, ..raw.source.clone() },
    })?;
    Ok(Onbuild { source: raw.source, expression, trigger: Box::new(trigger) })
}
