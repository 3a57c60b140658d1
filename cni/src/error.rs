//! The crate's error type and its mapping onto CNI error codes.
//!
//! Every failure of the plugin ends up here: `plugin::run` turns an [`Error`] into the CNI error
//! JSON on stdout plus a non-zero exit. Codes 1–99 are the spec's well-known ones; 100+ are ours
//! and documented in docs/cni.md.

use std::io;
use std::path::PathBuf;

/// CNI error codes (SPEC.md, "Error"), plus the plugin-specific ones (100+).
pub mod code {
    /// Incompatible or unknown `cniVersion`.
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    /// Container unknown or does not exist (e.g. the netns path is not a netns).
    pub const UNKNOWN_CONTAINER: u32 = 3;
    /// A required `CNI_*` variable is missing or invalid.
    pub const INVALID_ENV: u32 = 4;
    /// I/O failure (the IPAM store, sysctls, the bin/conf dirs).
    pub const IO_FAILURE: u32 = 5;
    /// Stdin could not be decoded (empty or malformed JSON).
    pub const DECODE: u32 = 6;
    /// The network configuration is well-formed JSON but not valid.
    pub const INVALID_CONFIG: u32 = 7;
    /// Try again later (no free address right now).
    pub const TRY_AGAIN: u32 = 11;
    /// STATUS: the plugin cannot serve ADDs (no usable Pod CIDR).
    pub const NOT_AVAILABLE: u32 = 50;
    /// ADD for a (container, ifname) that already has an attachment.
    pub const ALREADY_ATTACHED: u32 = 100;
    /// CHECK found a difference between the attachment and the kernel.
    pub const CHECK_FAILED: u32 = 101;
    /// Any other failure (netlink, nftables); libcni's `ErrInternal`.
    pub const INTERNAL: u32 = 999;
}

/// Errors of the plugin and the agent logic.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `cniVersion` is not one we speak.
    #[error("unsupported cniVersion {0:?} (supported: 0.4.0, 1.0.0, 1.1.0)")]
    IncompatibleVersion(String),
    /// A `CNI_*` variable is missing or malformed.
    #[error("{name}: {reason}")]
    InvalidEnv {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Stdin is not JSON.
    #[error("cannot decode network configuration: {0}")]
    Decode(#[source] serde_json::Error),
    /// The configuration is JSON but not a valid routeplane-bridge config.
    #[error("invalid network configuration: {0}")]
    InvalidConfig(String),
    /// The netns in `CNI_NETNS` cannot be opened or entered.
    #[error("netns {path}: {source}")]
    Netns {
        /// `CNI_NETNS`.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Every range of a range set is full.
    #[error("no free address left in {0}")]
    Exhausted(String),
    /// A second ADD for the same attachment.
    #[error("container {container_id} already has an attachment on {ifname} ({addresses})")]
    AlreadyAttached {
        /// `CNI_CONTAINERID`.
        container_id: String,
        /// `CNI_IFNAME`.
        ifname: String,
        /// The addresses it holds.
        addresses: String,
    },
    /// CHECK found problems; one line each.
    #[error("{}", .0.join("; "))]
    Check(Vec<String>),
    /// STATUS: the plugin cannot serve ADDs.
    #[error("{0}")]
    NotAvailable(String),
    /// A netlink request failed.
    #[error("netlink {op}: {source}")]
    Netlink {
        /// What we asked the kernel.
        op: String,
        /// The kernel's answer (errno) or a socket error.
        #[source]
        source: io::Error,
    },
    /// nftables refused a transaction or `nft` failed.
    #[error("nftables: {0}")]
    Nft(String),
    /// An invariant the kernel should have kept did not hold.
    #[error("{0}")]
    Internal(String),
    /// An IPAM store entry is not a well-formed reservation. Allocation stops rather than guess
    /// which addresses are free.
    #[error(
        "IPAM store entry {path} is corrupt: {reason}; refusing to allocate until it is repaired \
         (see \"IPAM store and recovery\" in docs/cni.md)"
    )]
    CorruptStore {
        /// The entry.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Stdin is larger than any network configuration can be.
    #[error("stdin is larger than {limit} bytes: not a network configuration")]
    StdinTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The CNI error code reported for this error.
    pub fn code(&self) -> u32 {
        match self {
            Error::IncompatibleVersion(_) => code::INCOMPATIBLE_VERSION,
            Error::InvalidEnv { .. } => code::INVALID_ENV,
            Error::Decode(_) | Error::StdinTooLarge { .. } => code::DECODE,
            Error::InvalidConfig(_) => code::INVALID_CONFIG,
            Error::Netns { .. } => code::UNKNOWN_CONTAINER,
            Error::Exhausted(_) => code::TRY_AGAIN,
            Error::AlreadyAttached { .. } => code::ALREADY_ATTACHED,
            Error::Check(_) => code::CHECK_FAILED,
            Error::NotAvailable(_) => code::NOT_AVAILABLE,
            Error::Io { .. } | Error::CorruptStore { .. } => code::IO_FAILURE,
            Error::Netlink { .. } | Error::Nft(_) | Error::Internal(_) => code::INTERNAL,
        }
    }

    /// A bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::IncompatibleVersion(_) => "incompatible_version",
            Error::InvalidEnv { .. } => "invalid_env",
            Error::Decode(_) => "decode",
            Error::InvalidConfig(_) => "invalid_config",
            Error::Netns { .. } => "netns",
            Error::Exhausted(_) => "exhausted",
            Error::AlreadyAttached { .. } => "already_attached",
            Error::Check(_) => "check",
            Error::NotAvailable(_) => "not_available",
            Error::Netlink { .. } => "netlink",
            Error::Nft(_) => "nft",
            Error::Io { .. } => "io",
            Error::CorruptStore { .. } => "corrupt_store",
            Error::StdinTooLarge { .. } => "stdin_too_large",
            Error::Internal(_) => "internal",
        }
    }

    /// The errno behind a netlink or I/O error, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Netlink { source, .. } | Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
