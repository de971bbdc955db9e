//! Secrets of ours (server passwords): random, and when the processes of a run must share one,
//! kept in a file only this user can read, written atomically (the first writer wins), and
//! read back only after checking that nobody else could have written or read it.

use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// 32 random hex digits (128 bits) from the system's random source.
///
/// # Errors
///
/// When `/dev/urandom` cannot be read.
pub fn random_hex() -> io::Result<String> {
    let mut buf = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The secret kept at `path`, made (random, see [`random_hex`]) by the first process that asks.
///
/// `path`'s folder must be private (see [`crate::private::ensure`]). The file is created with
/// mode `0600` under a temporary name and linked into place, so a reader never sees it half
/// written and two writers agree on the first one's secret. An existing file is used only if it
/// is a plain file of this user's that no other user may read or write.
///
/// # Errors
///
/// When the file cannot be written or read, or fails the check (the error names it and why).
pub fn kept(path: &Path) -> io::Result<String> {
    match read_checked(path) {
        Ok(s) => return Ok(s),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret = random_hex()?;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp-{}-{n}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(secret.as_bytes())?;
    drop(f);
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(secret),
        // Another process was first: everyone uses its secret.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_checked(path),
        Err(e) => Err(e),
    }
}

fn read_checked(path: &Path) -> io::Result<String> {
    Ok(read_ours(path, "secret")?.trim().to_owned())
}

/// The text of `path` when it is a plain file of this user's that no other user may read or
/// write; else an error naming it (as a `what`) and why.
pub(crate) fn read_ours(path: &Path, what: &str) -> io::Result<String> {
    let meta = std::fs::symlink_metadata(path)?;
    let why = if !meta.file_type().is_file() {
        Some("it is not a plain file".to_owned())
    } else if meta.uid() != crate::private::uid() {
        Some(format!(
            "it is owned by uid {}, not by this user",
            meta.uid()
        ))
    } else if meta.mode() & 0o077 != 0 {
        Some(format!(
            "other users may read or write it (mode {:o})",
            meta.mode() & 0o777
        ))
    } else {
        None
    };
    if let Some(why) = why {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing the {what} in {}: {why}; fix: remove it (a new one is made)",
                path.display()
            ),
        ));
    }
    std::fs::read_to_string(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("fx-secret-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        crate::private::ensure(&d, false).unwrap();
        d
    }

    #[test]
    fn a_secret_is_made_once_private_and_then_read_back() {
        let d = scratch("once");
        let path = d.join("password");
        let first = kept(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(kept(&path).unwrap(), first, "a second reader gets the same");
        assert_ne!(random_hex().unwrap(), random_hex().unwrap());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_secret_others_could_read_or_a_link_is_refused() {
        let d = scratch("open");
        let path = d.join("password");
        std::fs::write(&path, "planted").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = kept(&path).unwrap_err();
        assert!(e.to_string().contains("other users may read"), "{e}");
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", &path).unwrap();
        let e = kept(&path).unwrap_err();
        assert!(e.to_string().contains("not a plain file"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn concurrent_makers_agree_on_one_secret() {
        let d = scratch("race");
        let path = d.join("password");
        let all: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8).map(|_| s.spawn(|| kept(&path).unwrap())).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(all.iter().all(|s| *s == all[0]), "{all:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
