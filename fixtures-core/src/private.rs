//! Folders of ours on a machine shared with other users: created owned by this user with mode
//! `0700`, and checked at every use — owned by this user, not a symbolic link, no access for
//! the group or others — so that another local user can neither read a secret kept there, nor
//! plant a record the framework would trust, nor redirect a path. A folder that fails the check
//! is refused with an error that names it, its owner and the fix.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// This process's effective user id.
pub fn uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// Creates `dir` if it is missing (its parent must exist), owned by this user with mode `0700`
/// — `0711` with `traverse`, for a folder another user of ours (the `postgres` user a server
/// runs as) must pass through without listing it — then checks it ([`check`]). A folder of
/// this user's that others may read but not write (made by an older version) is closed; one
/// that anyone may write (`/tmp`, say: never a folder of ours) is refused, never changed.
///
/// # Errors
///
/// When it cannot be created, or fails the check.
pub fn ensure(dir: &Path, traverse: bool) -> io::Result<()> {
    let mode = if traverse { 0o711 } else { 0o700 };
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("creating {}: {e}", dir.display()),
            ));
        }
    }
    let meta = checked_meta(dir)?;
    if meta.mode() & 0o002 != 0 {
        return Err(refused(
            dir,
            &format!(
                "anyone may write into it (mode {:o}): a shared folder, not one of ours",
                meta.mode() & 0o7777
            ),
            "point FIXTURES_STATE_DIR (or FIXTURES_PG_DATA_ROOT) at a folder of its own",
        ));
    }
    if meta.mode() & 0o777 & !mode != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Checks that `dir` is a folder of this user's, not a symbolic link, that no other user may
/// list or write (searching it, `--x`, is allowed).
///
/// # Errors
///
/// [`io::ErrorKind::PermissionDenied`] naming the folder, who owns it and what to do.
pub fn check(dir: &Path) -> io::Result<()> {
    let meta = checked_meta(dir)?;
    if meta.mode() & 0o066 != 0 {
        return Err(refused(
            dir,
            &format!("it is open to other users (mode {:o})", meta.mode() & 0o777),
            "run `chmod 700` on it, or remove it",
        ));
    }
    Ok(())
}

fn checked_meta(dir: &Path) -> io::Result<std::fs::Metadata> {
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(refused(
            dir,
            "it is a symbolic link (another user may have planted it to redirect our files)",
            "remove the link",
        ));
    }
    if !meta.is_dir() {
        return Err(refused(dir, "it is not a folder", "remove it"));
    }
    if meta.uid() != uid() {
        return Err(refused(
            dir,
            &format!(
                "it is owned by uid {}, not by this user (uid {}): another user may have made \
                 it to plant records",
                meta.uid(),
                uid()
            ),
            "have its owner remove it, or set FIXTURES_STATE_DIR (and FIXTURES_PG_DATA_ROOT) \
             to a folder of yours",
        ));
    }
    Ok(meta)
}

fn refused(dir: &Path, why: &str, fix: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "refusing to use {} for the test framework's state: {why}; fix: {fix}",
            dir.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("fx-private-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_file(&d);
        d
    }

    #[test]
    fn a_new_folder_is_private_and_an_open_one_is_closed() {
        let d = scratch("new");
        ensure(&d, false).unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check(&d).is_err(), "an open folder passes the check");
        ensure(&d, false).unwrap();
        check(&d).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_folder_anyone_may_write_is_refused_and_left_as_it_is() {
        let d = scratch("shared");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = ensure(&d, false).unwrap_err();
        assert!(e.to_string().contains("anyone may write"), "{e}");
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o7777, 0o1777);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symlink_is_refused() {
        let target = scratch("target");
        ensure(&target, false).unwrap();
        let link = scratch("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = ensure(&link, false).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_dir_all(&target).unwrap();
    }
}
