//! Errors of CLI verbs and how they turn into docker's exit codes.

use berth_api::client::ClientError;

/// Why a verb failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The daemon or the connection failed; printed as is (`Error response from daemon: ...`).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A message printed on stderr; the exit code is the verb's default.
    #[error("{0}")]
    Msg(String),
    /// A message printed on stderr with a specific exit code.
    #[error("{msg}")]
    Code {
        /// What to print (nothing when empty).
        msg: String,
        /// The exit code.
        code: i32,
    },
}

/// The result of a verb: its exit code.
pub type Result<T> = std::result::Result<T, CliError>;

impl CliError {
    /// A plain message error.
    pub fn msg(m: impl Into<String>) -> Self {
        CliError::Msg(m.into())
    }

    /// The HTTP status of a daemon error, if that is what this is.
    pub fn status(&self) -> Option<u16> {
        match self {
            CliError::Client(c) => c.status(),
            _ => None,
        }
    }

    /// Whether the daemon said 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Msg(e.to_string())
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::Msg(e.to_string())
    }
}

impl From<hyper::Error> for CliError {
    fn from(e: hyper::Error) -> Self {
        CliError::Client(ClientError::Http(e))
    }
}
