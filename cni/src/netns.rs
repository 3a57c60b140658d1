//! Talking to a pod's network namespace without moving the calling thread.
//!
//! A netlink socket belongs to the namespace it was created in. We open the netns file, let a
//! short-lived thread `setns` into it and create the socket there, then hand the socket back:
//! the main thread stays in the host namespace the whole time, so nothing can be left half-way
//! in the wrong namespace if a step fails.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::sched::{CloneFlags, setns};
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

use crate::error::{Error, Result};
use crate::netlink::Socket;

/// Opens a netns file (`/run/netns/x`, `/proc/<pid>/ns/net`) and checks that it is one.
///
/// `CNI_NETNS` comes from the caller, so it may name anything: the open never blocks (a FIFO
/// would otherwise hang the plugin until a writer appears) and the file must live on nsfs.
///
/// # Errors
/// [`Error::Netns`] (code 3) when it does not exist or is not a namespace.
pub fn open(path: &Path) -> Result<File> {
    let err = |source| Error::Netns {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(err)?;
    let fs = fstatfs(&file).map_err(|e| err(e.into()))?;
    if fs.filesystem_type() != NSFS_MAGIC {
        return Err(err(std::io::Error::other(
            "not a namespace file (expected /run/netns/<name> or /proc/<pid>/ns/net)",
        )));
    }
    Ok(file)
}

/// Creates an rtnetlink socket inside the namespace behind `ns`.
///
/// # Errors
/// [`Error::Netns`] when `ns` is not a network namespace, netlink errors otherwise.
pub fn socket_in(ns: &File, path: &Path) -> Result<Socket> {
    let handle = std::thread::scope(|s| {
        s.spawn(|| -> Result<Socket> {
            setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| Error::Netns {
                path: path.to_path_buf(),
                source: e.into(),
            })?;
            Socket::new()
        })
        .join()
    });
    handle.unwrap_or_else(|_| {
        Err(Error::Netns {
            path: path.to_path_buf(),
            source: std::io::Error::other("netns thread panicked"),
        })
    })
}
