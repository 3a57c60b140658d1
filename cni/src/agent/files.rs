//! Atomic file replacement: write a temp file in the same directory, fsync, rename over the
//! target, fsync the directory. Readers (the container runtime watching `/etc/cni/net.d`, the
//! kubelet exec'ing `/opt/cni/bin/…`) only ever see the old or the new file, never a partial one.
//! Nothing is written when the content is unchanged, so the runtime is not woken for nothing.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Replaces `path` with `content` (mode `mode`) unless it already holds exactly that.
/// Returns whether it wrote.
///
/// # Errors
/// [`Error::Io`].
pub fn write_if_changed(path: &Path, content: &[u8], mode: u32) -> Result<bool> {
    if let Ok(current) = fs::read(path)
        && current == content
        && fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o7777 == mode)
    {
        return Ok(false);
    }
    let dir = path.parent().ok_or_else(|| {
        Error::io(
            "resolve parent of",
            path,
            std::io::ErrorKind::InvalidInput.into(),
        )
    })?;
    fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A leading dot keeps the runtime's conf-dir scan (*.conf, *.conflist, *.json) away from it.
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(content)
            .map_err(|e| Error::io("write", &tmp, e))?;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("chmod", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(true)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Installs the plugin binary `src` as `<bin_dir>/<name>` (mode 0755) when it differs.
///
/// Rename replaces the directory entry, so a plugin process already running keeps its old inode
/// and a new exec gets the new file — copying over the old file in place would hit `ETXTBSY`.
///
/// # Errors
/// [`Error::Io`].
pub fn install_binary(src: &Path, bin_dir: &Path, name: &str) -> Result<bool> {
    let content = fs::read(src).map_err(|e| Error::io("read", src, e))?;
    write_if_changed(&bin_dir.join(name), &content, 0o755)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_and_then_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("net.d/10-x.conflist");
        assert!(write_if_changed(&p, b"a", 0o644).unwrap());
        assert!(!write_if_changed(&p, b"a", 0o644).unwrap());
        assert!(write_if_changed(&p, b"b", 0o644).unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"b");
        assert_eq!(
            fs::read_dir(p.parent().unwrap()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn installs_an_executable_and_skips_an_identical_one() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src-bin");
        fs::write(&src, b"\x7fELF...").unwrap();
        let bin = dir.path().join("bin");
        assert!(install_binary(&src, &bin, "routeplane-bridge").unwrap());
        assert!(!install_binary(&src, &bin, "routeplane-bridge").unwrap());
        let mode = fs::metadata(bin.join("routeplane-bridge"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }
}
