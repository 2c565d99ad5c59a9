//! Shell-like word processing: quote removal, escapes and `$var` expansion.
//!
//! This is the expander Docker applies to the arguments of `ENV`, `ARG`,
//! `LABEL`, `COPY`, `ADD`, `WORKDIR`, `USER`, `VOLUME`, `EXPOSE`,
//! `STOPSIGNAL` and `FROM`. It is *not* a shell: there is no command
//! substitution, globbing or arithmetic, only:
//!
//! * `'single'` quotes (literal), `"double"` quotes (only `$`, `"` and the
//!   escape character are special inside),
//! * the escape character (`\` or the `# escape=` one) outside quotes,
//! * `$name`, `${name}`, `${name:-word}`, `${name-word}`, `${name:+word}`,
//!   `${name+word}`, `${name:?msg}`, `${name?msg}`, `${name#pat}`,
//!   `${name##pat}`, `${name%pat}`, `${name%%pat}`, `${name/pat/rep}` and
//!   `${name//pat/rep}`.
//!
//! Values are substituted once and never re-scanned, so a variable whose
//! value mentions itself cannot loop. Nesting depth and result size are
//! bounded (see [`MAX_NESTING`], [`MAX_EXPANDED_LEN`]) so hostile input
//! cannot exhaust the stack or memory.

mod dollar;
mod pattern;
mod scan;
mod vars;

pub use vars::{NoVars, Overlay, Vars};

/// Deepest `${...}` nesting accepted before [`ExpandError::TooDeep`].
pub const MAX_NESTING: usize = 64;
/// Largest result (in bytes) one expansion may produce.
pub const MAX_EXPANDED_LEN: usize = 4 << 20;
/// Pattern-matching work (state steps) one expansion may spend.
pub const MAX_PATTERN_STEPS: u64 = 50_000_000;

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `${name:?msg}` / `${name?msg}` with the variable unset (or empty).
    #[error("{name}: {message}")]
    Required {
        /// The variable name.
        name: String,
        /// The user's message, or the default one.
        message: String,
    },
    /// `${` with no closing brace.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${}`, `${:x}`, `${{x}` and similar.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// `${name/pat}` with no second slash.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${name:=x}` and other modifiers Docker does not support.
    #[error("unsupported modifier ({modifier}) in substitution")]
    UnsupportedModifier {
        /// The modifier as written.
        modifier: String,
    },
    /// A quote that is never closed.
    #[error("unexpected end of statement while looking for matching {quote}")]
    UnterminatedQuote {
        /// `single-quote` or `double-quote`.
        quote: &'static str,
    },
    /// A `#`, `%` or `/` pattern with a bad escape.
    #[error("invalid pattern ({pattern}) in substitution: invalid escape")]
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
    },
    /// Substitutions nested deeper than [`MAX_NESTING`].
    #[error("substitutions nested more than {MAX_NESTING} levels deep")]
    TooDeep,
    /// The result grew past [`MAX_EXPANDED_LEN`] bytes.
    #[error("expansion result exceeds {MAX_EXPANDED_LEN} bytes")]
    TooLong,
    /// Pattern matching needed more than [`MAX_PATTERN_STEPS`] steps.
    #[error("pattern substitution is too expensive")]
    TooExpensive,
}

impl ExpandError {
    /// Whether this error is a safety limit rather than a syntax problem.
    pub fn is_limit(&self) -> bool {
        matches!(self, ExpandError::TooDeep | ExpandError::TooLong | ExpandError::TooExpensive)
    }
}

/// Knobs that select which parts of the word grammar are active; the parser
/// uses non-default settings internally (heredoc detection, heredoc bodies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
    /// Treat quotes as ordinary characters.
    pub skip_quotes: bool,
}

/// A word expander bound to an escape character.
///
/// Build one per Dockerfile with [`ShellWords::new`] (passing
/// [`crate::Directives::escape`]) and call [`ShellWords::word`] or
/// [`ShellWords::words`] with the variables in scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellWords {
    escape: char,
    options: Options,
}

impl Default for ShellWords {
    fn default() -> Self {
        Self::new('\\')
    }
}

impl ShellWords {
    /// An expander using `escape` (`\` or `` ` ``) as escape character.
    pub fn new(escape: char) -> Self {
        Self { escape, options: Options::default() }
    }

    pub(crate) fn with_options(escape: char, options: Options) -> Self {
        Self { escape, options }
    }

    /// The escape character this expander honours.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands `word` into a single string: quotes are removed, escapes
    /// resolved and variables substituted; whitespace is kept. This is what
    /// Docker does for `ENV`, `LABEL`, `WORKDIR`, `COPY` paths and friends.
    pub fn word(&self, word: &str, vars: &dyn Vars) -> Result<String, ExpandError> {
        scan::Scanner::new(self, word, vars).process().map(|(word, _)| word)
    }

    /// Expands `word` and splits the result into fields on unquoted
    /// whitespace (whitespace coming from variable values splits too, quoted
    /// text never does). Empty fields are dropped. Docker uses this for
    /// `EXPOSE`.
    pub fn words(&self, word: &str, vars: &dyn Vars) -> Result<Vec<String>, ExpandError> {
        scan::Scanner::new(self, word, vars).process().map(|(_, words)| words)
    }

    /// Expands the body of a `COPY <<EOF` heredoc: variables and the
    /// backslash escape are processed, quotes are kept as ordinary text.
    pub fn heredoc_body(body: &str, vars: &dyn Vars) -> Result<String, ExpandError> {
        let options = Options { skip_quotes: true, ..Options::default() };
        ShellWords::with_options('\\', options).word(body, vars)
    }
}

#[cfg(test)]
mod tests;
