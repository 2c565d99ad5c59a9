//! The parse loop: logical lines in, a [`Dockerfile`] out.

use crate::directives::Directives;
use crate::dockerfile::{Dockerfile, Warning};
use crate::error::{Error, ErrorKind, Location};
use crate::heredoc::{markers_in_line, Heredoc};
use crate::instructions::{self, takes_heredocs, Instruction, RawInstruction, Source, KEYWORDS};
use crate::lines::{LineReader, LogicalLine};
use crate::stage::{parse_from, Stage};
use crate::words::{json_array, split_command, Json};

struct Parser<'a> {
    file: &'a str,
    reader: LineReader<'a>,
    global_args: Vec<instructions::Arg>,
    stages: Vec<Stage>,
    warnings: Vec<Warning>,
}

/// Parses `text`; errors name `file`.
pub(crate) fn parse(text: &str, file: &str) -> Result<Dockerfile, Error> {
    let mut parser = Parser { file, reader: LineReader::new(text), global_args: Vec::new(), stages: Vec::new(), warnings: Vec::new() };
    let mut seen_any = false;
    loop {
        let line = match parser.reader.next_logical() {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err((line, kind)) => return Err(parser.error(line, None, kind)),
        };
        seen_any = true;
        parser.instruction(line)?;
    }
    let last_line = parser.reader.line_no().max(1);
    if !seen_any {
        return Err(parser.error(last_line, None, ErrorKind::EmptyFile));
    }
    if parser.stages.is_empty() {
        return Err(parser.error(last_line, None, ErrorKind::NoStages));
    }
    let dockerfile = Dockerfile {
        file: file.to_string(),
        directives: parser.reader.directives().clone(),
        global_args: parser.global_args,
        stages: parser.stages,
        warnings: parser.warnings,
    };
    dockerfile.check_stage_references()?;
    Ok(dockerfile)
}

impl Parser<'_> {
    fn error(&self, line: usize, instruction: Option<&str>, kind: ErrorKind) -> Error {
        let location = Location { file: self.file.to_string(), line, instruction: instruction.map(str::to_string) };
        Error::new(location, kind)
    }

    fn directives(&self) -> &Directives {
        self.reader.directives()
    }

    fn warn(&mut self, line: usize, message: impl Into<String>) {
        self.warnings.push(Warning { line, message: message.into() });
    }

    fn instruction(&mut self, line: LogicalLine) -> Result<(), Error> {
        let escape = self.directives().escape;
        let split = split_command(&line.text, escape);
        let keyword = split.keyword.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(self.error(line.start, None, instructions::unknown(split.keyword)));
        }
        let file = self.file;
        let at = |kind| {
            let location = Location { file: file.to_string(), line: line.start, instruction: Some(keyword.clone()) };
            Error::new(location, kind)
        };
        let heredocs =
            if accepts_heredocs(&keyword, &split.rest, escape) && line.text.contains("<<") { self.read_heredocs(&line.text).map_err(at)? } else { Vec::new() };
        self.collect_warnings(&line, &keyword, &split.rest);
        let source = Source { line: line.start, end_line: self.reader.line_no(), original: line.text.trim().to_string() };
        if keyword == "FROM" {
            let stage = parse_from(&split.flags, &split.rest, &source).map_err(at)?;
            self.stages.push(stage);
            return Ok(());
        }
        let raw = RawInstruction { keyword: keyword.clone(), flags: split.flags, rest: split.rest, heredocs, escape, source };
        let instruction = instructions::parse(raw).map_err(at)?;
        match (self.stages.last_mut(), instruction) {
            (Some(stage), instruction) => stage.instructions.push(instruction),
            (None, Instruction::Arg(arg)) => self.global_args.push(arg),
            (None, _) => return Err(at(ErrorKind::InstructionBeforeFrom)),
        }
        Ok(())
    }

    /// Reads the bodies of every heredoc started on `text`, in order.
    fn read_heredocs(&mut self, text: &str) -> Result<Vec<Heredoc>, ErrorKind> {
        markers_in_line(text)
            .into_iter()
            .map(|marker| match self.reader.heredoc_body(&marker.name, marker.strip_tabs) {
                Some(body) => Ok(marker.with_body(&body)),
                None => Err(ErrorKind::UnterminatedHeredoc { name: marker.name }),
            })
            .collect()
    }

    fn collect_warnings(&mut self, line: &LogicalLine, keyword: &str, rest: &str) {
        if line.empty_continuation {
            self.warn(line.start, "empty continuation line (will become an error in a future release)");
        }
        match keyword {
            "MAINTAINER" => self.warn(line.start, "MAINTAINER is deprecated: use LABEL org.opencontainers.image.authors"),
            "ENV" | "LABEL" if instructions::is_legacy_form(rest, self.directives().escape) => {
                self.warn(line.start, format!("legacy \"{keyword} key value\" format: use \"{keyword} key=value\""));
            }
            _ => {}
        }
    }
}

/// Whether the instruction may be followed by heredoc bodies: shell-form
/// RUN/COPY/ADD, directly or as an ONBUILD trigger.
fn accepts_heredocs(keyword: &str, rest: &str, escape: char) -> bool {
    let (keyword, rest) = if keyword == "ONBUILD" {
        let inner = split_command(rest, escape);
        (inner.keyword.to_ascii_uppercase(), inner.rest)
    } else {
        (keyword.to_string(), rest.to_string())
    };
    takes_heredocs(&keyword) && !matches!(json_array(&rest), Ok(Json::Array(_)))
}
