//! `.dockerignore`: which build-context paths to leave out.
//!
//! Rules (as Docker applies them): one pattern per line; lines *starting*
//! with `#` are comments; surrounding whitespace is trimmed; each pattern is
//! cleaned like a path (`a/./b/../c` is `a/c`) and a leading `/` dropped; a
//! `!` prefix makes an exception that re-includes matches. Patterns apply in
//! order and the last one that matches decides. A path is also excluded when
//! one of its parent directories matches.

mod pattern;

use pattern::Pattern;

/// Why a `.dockerignore` file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    /// A pattern with an unclosed `[` or a trailing `\`.
    #[error(".dockerignore line {line}: syntax error in pattern {pattern:?}")]
    BadPattern {
        /// 1-based line.
        line: usize,
        /// The cleaned pattern.
        pattern: String,
    },
    /// A line holding just `!`.
    #[error(".dockerignore line {line}: illegal exclusion pattern: \"!\"")]
    IllegalExclusion {
        /// 1-based line.
        line: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    pattern: Pattern,
    exception: bool,
}

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

/// Lexical path cleaning as Go's `path.Clean` does it.
pub(crate) fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `path.Dir` for a cleaned relative path.
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(at) => path.get(..at).filter(|p| !p.is_empty()).unwrap_or("/"),
        None => ".",
    }
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<DockerIgnore, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let exception = pattern.starts_with('!');
            if exception {
                pattern = pattern.get(1..).unwrap_or("").trim();
                if pattern.is_empty() {
                    return Err(IgnoreError::IllegalExclusion { line: number });
                }
            }
            let mut cleaned = clean_path(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let compiled = Pattern::compile(&cleaned).ok_or_else(|| IgnoreError::BadPattern { line: number, pattern: cleaned.clone() })?;
            rules.push(Rule { pattern: compiled, exception });
        }
        Ok(DockerIgnore { rules })
    }

    /// The patterns in order, each with whether it is an exception (`!`).
    pub fn patterns(&self) -> impl Iterator<Item = (&str, bool)> {
        self.rules.iter().map(|r| (r.pattern.text(), r.exception))
    }

    /// Whether any `!` exception exists (if not, an excluded directory can
    /// always be skipped whole).
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }

    /// Whether `rel_path` (slash-separated, relative to the context root)
    /// is excluded from the build context. The root itself never is.
    pub fn matches(&self, rel_path: &str) -> bool {
        let path = clean_path(rel_path.trim_start_matches('/'));
        if path == "." {
            return false;
        }
        let parent = parent(&path);
        let ancestors: Vec<&str> =
            if parent == "." { Vec::new() } else { parent.match_indices('/').map(|(at, _)| parent.get(..at).unwrap_or("")).chain([parent]).collect() };
        let mut excluded = false;
        for rule in &self.rules {
            if rule.exception != excluded {
                continue;
            }
            let hit = rule.pattern.matches(&path) || ancestors.iter().any(|a| rule.pattern.matches(a));
            if hit {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether the directory `rel_dir` may be skipped without looking
    /// inside: it is excluded, and no exception pattern could match
    /// anything below it (so nothing inside can be re-included).
    pub fn can_skip_dir(&self, rel_dir: &str) -> bool {
        if !self.matches(rel_dir) {
            return false;
        }
        let dir = clean_path(rel_dir.trim_start_matches('/'));
        let dir_parts: Vec<&str> = dir.split('/').collect();
        !self.rules.iter().filter(|r| r.exception).any(|r| may_match_below(r.pattern.text(), &dir_parts))
    }
}

/// Conservative test: could `pattern` match some path strictly inside the
/// directory whose components are `dir`?
fn may_match_below(pattern: &str, dir: &[&str]) -> bool {
    for (index, part) in pattern.split('/').enumerate() {
        if part.contains("**") {
            return true;
        }
        let Some(component) = dir.get(index) else {
            // Every component of `dir` matched and the pattern goes deeper.
            return true;
        };
        if Pattern::compile(part).is_some_and(|p| !p.matches(component)) {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests;
