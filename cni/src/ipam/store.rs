//! The on-disk reservation store: one symlink per reserved address.
//!
//! Layout of `<dataDir>/<network>/`:
//! - `lock` — `flock`ed exclusively for every allocation and release, so concurrent plugin
//!   processes never pick the same free address;
//! - `<ip>` → symlink whose *target* is `<containerID>/<ifname>` (the owner);
//! - `last_reserved.<set>` — the round-robin cursor per range set, so a released address is not
//!   handed out again at once (conntrack and ARP entries of the old pod would still point at it).
//!
//! Why symlinks: `symlink(2)` creates the name and its content in one atomic step and fails if
//! the name exists. A kill -9 at any instant therefore leaves a reservation either fully present
//! (with its owner, so DEL/GC can release it) or absent, never half-written — no temp file, no
//! rename, no fsync ordering to get right. After a power loss every pod is gone anyway, and the
//! runtime's GC releases whatever the journal kept.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// Who holds a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
}

impl Owner {
    fn encode(&self) -> String {
        format!("{}/{}", self.container_id, self.ifname)
    }

    /// The owner a symlink target names, if it is a well-formed `<containerID>/<ifname>`.
    fn decode(s: &str) -> Option<Owner> {
        let (c, i) = s.split_once('/')?;
        if crate::env::validate_container_id(c).is_err() || crate::env::validate_ifname(i).is_err()
        {
            return None;
        }
        Some(Owner {
            container_id: c.to_string(),
            ifname: i.to_string(),
        })
    }

    /// The form used in nftables comments.
    pub fn label(&self) -> String {
        self.encode()
    }
}

/// The store of one network.
pub struct Store {
    dir: PathBuf,
}

/// Held while the store is locked; unlocks on drop (also when the process dies).
pub struct Locked {
    _lock: Flock<File>,
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/<network>`.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn open(data_dir: &Path, network: &str) -> Result<Self> {
        let dir = data_dir.join(sanitize(network));
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        Ok(Store { dir })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the exclusive lock (blocking).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn lock(&self) -> Result<Locked> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io("flock", &path, e.into()))?;
        Ok(Locked { _lock: lock })
    }

    /// Every reservation, or [`Error::CorruptStore`] for the first entry that is not one. Used
    /// where a wrong answer would double-book an address (allocation). Safe without the lock:
    /// each entry appears and disappears atomically.
    ///
    /// # Errors
    /// [`Error::CorruptStore`], [`Error::Io`].
    pub fn reservations(&self) -> Result<Vec<(IpAddr, Owner)>> {
        let scan = self.scan()?;
        match scan.corrupt.into_iter().next() {
            Some(c) => Err(c.into_error(&self.dir)),
            None => Ok(scan.held),
        }
    }

    /// Every readable reservation plus the entries that are not readable. Used where skipping a
    /// bad entry is safe because nothing is handed out (DEL, CHECK, GC): an unreadable entry
    /// keeps its address out of use until an operator repairs it (docs/cni.md).
    ///
    /// # Errors
    /// [`Error::Io`] when the directory cannot be read.
    pub fn scan(&self) -> Result<Scan> {
        let rd = fs::read_dir(&self.dir).map_err(|e| Error::io("read", &self.dir, e))?;
        let mut scan = Scan::default();
        for entry in rd {
            let entry = entry.map_err(|e| Error::io("read", &self.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let Ok(ip) = name.parse::<IpAddr>() else {
                // The lock, cursors, nft stamp and temp files.
                continue;
            };
            let mut bad = |reason: String| {
                scan.corrupt.push(Corrupt {
                    ip,
                    entry: name.to_string(),
                    reason,
                });
            };
            if ip.to_string() != name {
                bad("the address is not written in canonical form".into());
                continue;
            }
            let path = entry.path();
            match fs::symlink_metadata(&path) {
                // Released concurrently.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("stat", &path, e)),
                Ok(m) if !m.file_type().is_symlink() => {
                    bad(format!(
                        "a {} where a reservation symlink belongs (length {}; host-local's store \
                         or a hand-made file?)",
                        if m.is_dir() {
                            "directory"
                        } else {
                            "regular file"
                        },
                        m.len()
                    ));
                    continue;
                }
                Ok(_) => {}
            }
            let target = match fs::read_link(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("readlink", &path, e)),
            };
            match target.to_str().and_then(Owner::decode) {
                Some(owner) => scan.held.push((ip, owner)),
                None => bad(format!(
                    "owner {:?} is not <containerID>/<ifname>",
                    target.to_string_lossy()
                )),
            }
        }
        Ok(scan)
    }

    /// Reserves `ip` for `owner`; `Ok(false)` if it is taken. Call with the lock held.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn reserve(&self, _lock: &Locked, ip: IpAddr, owner: &Owner) -> Result<bool> {
        let path = self.dir.join(ip.to_string());
        match symlink(owner.encode(), &path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Error::io("reserve", &path, e)),
        }
    }

    /// Releases `ip` (no error if already free). Call with the lock held.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn release(&self, _lock: &Locked, ip: IpAddr) -> Result<()> {
        let path = self.dir.join(ip.to_string());
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("release", &path, e)),
        }
    }

    /// The round-robin cursor of a range set.
    pub fn cursor(&self, set: usize) -> Option<IpAddr> {
        fs::read_to_string(self.dir.join(format!("last_reserved.{set}")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Moves the cursor. It is only a hint, but still replaced atomically (temp + rename) so a
    /// reader never sees a torn value.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn set_cursor(&self, _lock: &Locked, set: usize, ip: IpAddr) -> Result<()> {
        let path = self.dir.join(format!("last_reserved.{set}"));
        let tmp = self.dir.join(format!(".last_reserved.{set}.tmp"));
        let mut f = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(ip.to_string().as_bytes())
            .map_err(|e| Error::io("write", &tmp, e))?;
        crate::killpoint::reached("ipam_cursor_tmp")?;
        fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))
    }
}

/// What [`Store::scan`] found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Well-formed reservations.
    pub held: Vec<(IpAddr, Owner)>,
    /// Entries named like an address that are not a well-formed reservation.
    pub corrupt: Vec<Corrupt>,
}

/// An unreadable store entry.
#[derive(Debug, Clone)]
pub struct Corrupt {
    /// The address the entry is named for (it stays out of use).
    pub ip: IpAddr,
    /// The entry's file name.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Corrupt {
    /// The error naming this entry, its store and the way out.
    pub fn into_error(self, dir: &Path) -> Error {
        Error::CorruptStore {
            path: dir.join(&self.entry),
            reason: self.reason,
        }
    }
}

/// Network names become directory and table names; keep them to a safe alphabet.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
