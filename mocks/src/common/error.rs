//! Errors the mock clouds' library APIs return to Rust callers: start-up and world loading.
//! What goes on the wire is each mock's own `ApiError`.

/// Errors of a mock cloud's library API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding the listening socket failed.
    #[error("binding the mock listener on {addr}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading a world file failed.
    #[error("reading world file {path}")]
    ReadWorld {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A world document is not valid YAML/JSON for the model.
    #[error("parsing world document")]
    ParseWorld(#[source] serde_yaml::Error),
    /// A world refers to something that does not exist or is inconsistent.
    #[error("invalid world: {0}")]
    InvalidWorld(String),
    /// The server task failed or panicked.
    #[error("the mock server task failed")]
    Server(#[source] tokio::task::JoinError),
}
