//! The compact live view of `berth build` on a terminal: one line per finished step
//! (` => [3/8] COPY . /app   0.4s`, ` => CACHED [4/8] RUN make`), and for the running step
//! its title with a live timer and the last few lines of its output, redrawn in place. When
//! a step fails its whole output is printed before the error. Off a terminal, `berth build`
//! prints the daemon's stream as `docker build` does; this view is only for people.

use std::io::Write;
use std::time::Instant;

use berth_api::types::JsonMessage;

use crate::cli::error::{CliError, Result};

/// Output lines of the running step kept on screen.
const TAIL: usize = 6;

struct Active {
    title: String,
    started: Instant,
    cached: bool,
    lines: Vec<String>,
    partial: String,
}

/// The view's state.
pub struct BuildView<W: Write> {
    out: W,
    width: usize,
    active: Option<Active>,
    /// Lines of the active block currently on screen.
    drawn: usize,
    started: Instant,
    /// `aux` payloads seen (the image id for `--iidfile`).
    pub aux: Vec<serde_json::Value>,
}

/// `Step 3/8 : COPY . /app` as `[3/8] COPY . /app`.
fn step_title(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Step ")?;
    let (counter, title) = rest.split_once(" : ")?;
    let (n, m) = counter.split_once('/')?;
    (n.parse::<u32>().is_ok() && m.parse::<u32>().is_ok()).then(|| format!("[{counter}] {}", title.trim_end()))
}

fn clip(line: &str, width: usize) -> String {
    let clean: String = line.chars().filter(|c| !c.is_control() || *c == '\t').map(|c| if c == '\t' { ' ' } else { c }).collect();
    if clean.chars().count() <= width {
        return clean;
    }
    let mut s: String = clean.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

impl<W: Write> BuildView<W> {
    /// A view writing to `out`, a terminal `width` columns wide.
    pub fn new(out: W, width: usize) -> Self {
        Self { out, width: width.max(20), active: None, drawn: 0, started: Instant::now(), aux: Vec::new() }
    }

    /// Takes one message of the stream; an in-stream error becomes `Err` with its code
    /// after the failed step's output has been printed in full.
    pub fn handle(&mut self, jm: &JsonMessage) -> Result<()> {
        if let Some(err) = jm.error.clone().or_else(|| jm.error_detail.as_ref().map(|d| d.message.clone())) {
            let code = jm.error_detail.as_ref().and_then(|d| d.code).filter(|c| *c > 0).unwrap_or(1);
            self.fail()?;
            return Err(CliError::Code { msg: err, code: code as i32 });
        }
        if let Some(aux) = &jm.aux {
            self.aux.push(aux.clone());
            return Ok(());
        }
        let Some(text) = jm.stream.as_deref().or(jm.status.as_deref()) else { return Ok(()) };
        self.text(text)
    }

    fn text(&mut self, text: &str) -> Result<()> {
        if let Some(title) = step_title(text) {
            self.finish_step()?;
            self.active = Some(Active { title, started: Instant::now(), cached: false, lines: Vec::new(), partial: String::new() });
            return self.redraw();
        }
        let marker = text.strip_prefix(" ---> ").map(str::trim_end);
        match marker {
            Some("Using cache") => {
                if let Some(a) = &mut self.active {
                    a.cached = true;
                }
                return self.redraw();
            }
            Some(m) if m.starts_with("Running in ") || m.starts_with("Removed intermediate container") => return Ok(()),
            Some(_) => return self.redraw(),
            None => {}
        }
        if text.starts_with("Successfully ") || text.starts_with("[Warning]") || self.active.is_none() {
            self.finish_step()?;
            write!(self.out, "{text}")?;
            return Ok(self.out.flush()?);
        }
        if let Some(a) = &mut self.active {
            a.partial.push_str(text);
            while let Some(i) = a.partial.find('\n') {
                let line: String = a.partial.drain(..=i).collect();
                a.lines.push(line.trim_end_matches(['\n', '\r']).to_string());
            }
        }
        self.redraw()
    }

    fn clear(&mut self) -> Result<()> {
        if self.drawn > 0 {
            write!(self.out, "\x1b[{}F\x1b[J", self.drawn)?;
            self.drawn = 0;
        }
        Ok(())
    }

    /// Replaces the running step's block with its one-line summary.
    fn finish_step(&mut self) -> Result<()> {
        self.clear()?;
        if let Some(a) = self.active.take() {
            let line = if a.cached { format!(" => CACHED {}", a.title) } else { format!(" => {}", a.title) };
            let time = format!("{:.1}s", a.started.elapsed().as_secs_f64());
            self.summary(&line, &time)?;
        }
        Ok(self.out.flush()?)
    }

    fn summary(&mut self, line: &str, time: &str) -> Result<()> {
        let room = self.width.saturating_sub(time.len() + 1);
        let line = clip(line, room);
        let pad = room.saturating_sub(line.chars().count());
        writeln!(self.out, "{line}{} {time}", " ".repeat(pad))?;
        Ok(())
    }

    /// Draws the running step: its title with a timer, then the tail of its output.
    pub fn redraw(&mut self) -> Result<()> {
        self.clear()?;
        let Some(a) = &self.active else { return Ok(()) };
        let head = format!("[+] Building {:.1}s {}", self.started.elapsed().as_secs_f64(), a.title);
        let mut block = vec![clip(&head, self.width)];
        let mut tail: Vec<&str> = a.lines.iter().map(String::as_str).collect();
        if !a.partial.is_empty() {
            tail.push(a.partial.as_str());
        }
        let skip = tail.len().saturating_sub(TAIL);
        for line in &tail[skip..] {
            block.push(clip(&format!("    {line}"), self.width));
        }
        for line in &block {
            writeln!(self.out, "{line}")?;
        }
        self.drawn = block.len();
        Ok(self.out.flush()?)
    }

    /// Prints the failed step's title and its whole output.
    fn fail(&mut self) -> Result<()> {
        self.clear()?;
        if let Some(a) = self.active.take() {
            writeln!(self.out, " => ERROR {}", a.title)?;
            for line in a.lines.iter().chain((!a.partial.is_empty()).then_some(&a.partial)) {
                writeln!(self.out, "    {line}")?;
            }
        }
        Ok(self.out.flush()?)
    }

    /// Ends the view (the stream is over).
    pub fn finish(&mut self) -> Result<()> {
        self.finish_step()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(view: &mut BuildView<Vec<u8>>, lines: &[&str]) -> Result<()> {
        for l in lines {
            view.handle(&JsonMessage::stream(*l))?;
        }
        Ok(())
    }

    fn visible(raw: &[u8]) -> String {
        // Apply "previous line + clear to end" the way a terminal does.
        let text = String::from_utf8_lossy(raw).to_string();
        let mut screen: Vec<String> = Vec::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("\x1b[") {
            screen.extend(rest[..i].lines().map(String::from));
            let after = &rest[i + 2..];
            let end = after.find('F').unwrap_or(0);
            let n: usize = after[..end].parse().unwrap_or(0);
            screen.truncate(screen.len().saturating_sub(n));
            rest = after.get(end + 4..).unwrap_or("");
        }
        screen.extend(rest.lines().map(String::from));
        screen.join("\n")
    }

    #[test]
    fn finished_steps_collapse_to_one_line() {
        let mut v = BuildView::new(Vec::new(), 60);
        let r = feed(
            &mut v,
            &[
                "Step 1/3 : FROM busybox\n",
                " ---> 0123456789ab\n",
                "Step 2/3 : RUN echo one && echo two\n",
                " ---> Using cache\n",
                " ---> 0123456789ac\n",
                "Step 3/3 : RUN make\n",
                " ---> Running in 0123456789ad\n",
                "compiling\n",
                "linking\n",
                " ---> Removed intermediate container 0123456789ad\n",
                " ---> 0123456789ae\n",
                "Successfully built 0123456789ae\n",
            ],
        );
        assert!(r.is_ok());
        assert!(v.finish().is_ok());
        let screen = visible(&v.out);
        let lines: Vec<&str> = screen.lines().collect();
        assert_eq!(lines.len(), 4, "{screen}");
        assert!(lines[0].starts_with(" => [1/3] FROM busybox"), "{screen}");
        assert!(lines[1].starts_with(" => CACHED [2/3] RUN echo one"), "{screen}");
        assert!(lines[2].starts_with(" => [3/3] RUN make") && lines[2].ends_with('s'), "{screen}");
        assert_eq!(lines[3], "Successfully built 0123456789ae");
    }

    #[test]
    fn a_failed_step_shows_all_its_output_and_the_code() {
        let mut v = BuildView::new(Vec::new(), 60);
        let lines: Vec<String> = (0..10).map(|i| format!("line {i}\n")).collect();
        let mut msgs = vec!["Step 1/2 : FROM busybox\n", " ---> 0123456789ab\n", "Step 2/2 : RUN exit 3\n"];
        msgs.extend(lines.iter().map(String::as_str));
        assert!(feed(&mut v, &msgs).is_ok());
        let err = v.handle(&JsonMessage::error("The command '/bin/sh -c exit 3' returned a non-zero code: 3", Some(3)));
        assert!(matches!(err, Err(CliError::Code { code: 3, .. })));
        let screen = visible(&v.out);
        assert!(screen.contains(" => ERROR [2/2] RUN exit 3"), "{screen}");
        assert!(screen.contains("line 0") && screen.contains("line 9"), "{screen}");
    }
}
