//! Records the processes of a run share (which server the run started, where, with which
//! secret): a few `key=value` lines in a file of the run's private folder. Written atomically
//! (a `0600` file renamed into place), changed under an exclusive lock, and read back only
//! from a private folder and a plain file of this user's that nobody else could have written.
//!
//! ```
//! use fixtures_core::record::Record;
//!
//! let dir = std::env::temp_dir().join(format!("fx-record-doc-{}", std::process::id()));
//! fixtures_core::private::ensure(&dir, false).unwrap();
//! let record = Record::at(&dir, "server");
//! let _held = record.lock().unwrap();
//! record.write(&[("host", "127.0.0.1"), ("port", "5432")]).unwrap();
//! assert_eq!(record.read().unwrap().get("port"), Some("5432"));
//! record.remove();
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::watchdog::{self, ProcessRef};

/// A record in a folder of ours (by default the run's folder).
#[derive(Debug, Clone)]
pub struct Record {
    path: PathBuf,
}

/// A record's fields, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

/// The record's lock, held until dropped.
#[derive(Debug)]
pub struct Held {
    _file: File,
}

impl Record {
    /// The record `name` of this run (in [`watchdog::run_dir`], created when written or
    /// locked; read only when the run's folders are private).
    pub fn of_run(name: &str) -> Record {
        Record {
            path: watchdog::run_note(name),
        }
    }

    /// The record `name` in `dir`, a folder of ours (e.g. the run's folder as a watchdog sees
    /// it, [`watchdog::Watch::dir`]).
    pub fn at(dir: &Path, name: &str) -> Record {
        Record {
            path: dir.join(format!("note-{name}")),
        }
    }

    /// Where it is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its fields, when it exists in a private folder as a plain file of ours; `None` when it
    /// does not, or could have been written by someone else (then it is not to be trusted).
    pub fn read(&self) -> Option<Fields> {
        let dir = self.path.parent()?;
        if crate::private::check(dir).is_err() {
            return None;
        }
        let text = match crate::secret::read_ours(&self.path, "record") {
            Ok(text) => text,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!("{e}");
                }
                return None;
            }
        };
        Some(Fields(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ))
    }

    /// Replaces it with `fields` (keys without `=` or newlines, values without newlines),
    /// atomically: a reader sees the old record or the new one, never half of one.
    ///
    /// # Errors
    ///
    /// When the folder cannot be made private or the file cannot be written.
    pub fn write(&self, fields: &[(&str, &str)]) -> io::Result<()> {
        let text: String = fields
            .iter()
            .filter(|(k, v)| !k.contains(['=', '\n']) && !v.contains('\n'))
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        self.folder()?;
        let tmp = self.beside(&format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        drop(f);
        std::fs::rename(&tmp, &self.path)
    }

    /// Takes its exclusive lock (a `.lock` file beside it; records whose names differ only
    /// after a dot have locks of their own), waiting while another process
    /// holds it. Hold it across a read and the write that depends on it.
    ///
    /// # Errors
    ///
    /// When the folder cannot be made private or the lock file cannot be opened.
    pub fn lock(&self) -> io::Result<Held> {
        let file = self.lock_file()?;
        file.lock()?;
        Ok(Held { _file: file })
    }

    fn lock_file(&self) -> io::Result<File> {
        self.folder()?;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.beside("lock"))
    }

    /// Takes its exclusive lock if no other holder has it now (`None` when one does): for a
    /// caller that waits its own way (e.g. asynchronously, with a deadline).
    ///
    /// # Errors
    ///
    /// When the folder cannot be made private or the lock file cannot be opened.
    pub fn try_lock(&self) -> io::Result<Option<Held>> {
        let file = self.lock_file()?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Held { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Removes it and its lock file.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(self.beside("lock"));
    }

    /// A file beside the record: its name and `.suffix` (a dot in the name is kept).
    fn beside(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{suffix}"));
        PathBuf::from(name)
    }

    fn folder(&self) -> io::Result<()> {
        if self.path.parent() == Some(watchdog::run_dir_path().as_path()) {
            watchdog::run_dir()?;
        } else if let Some(dir) = self.path.parent() {
            crate::private::check(dir)?;
        }
        Ok(())
    }
}

impl Fields {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The process named by `key` ([`ProcessRef`]'s form), when it is still alive.
    pub fn live_process(&self, key: &str) -> Option<ProcessRef> {
        self.get(key)
            .and_then(ProcessRef::parse)
            .filter(ProcessRef::is_alive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fx-record-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        crate::private::ensure(&d, false).unwrap();
        d
    }

    #[test]
    fn a_record_round_trips_private_and_names_live_processes() {
        let d = scratch("trip");
        let r = Record::at(&d, "server");
        assert_eq!(r.read(), None);
        let me = ProcessRef::current().to_string();
        r.write(&[
            ("port", "5432"),
            ("owner", &me),
            ("dead", "4194303:1"),
            ("bad\nkey", "x"),
        ])
        .unwrap();
        assert_eq!(std::fs::metadata(r.path()).unwrap().mode() & 0o777, 0o600);
        let f = r.read().unwrap();
        assert_eq!(f.get("port"), Some("5432"));
        assert_eq!(f.live_process("owner"), Some(ProcessRef::current()));
        assert_eq!(f.live_process("dead"), None);
        assert_eq!(f.get("bad\nkey"), None);
        r.remove();
        assert_eq!(r.read(), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_record_others_could_have_written_is_not_read() {
        let d = scratch("open");
        let r = Record::at(&d, "server");
        r.write(&[("host", "127.0.0.1")]).unwrap();
        std::fs::set_permissions(r.path(), std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(r.read(), None, "a record open to others was trusted");
        std::fs::set_permissions(r.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(r.read().is_some());
        // The folder open to others: nothing in it is trusted.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(r.read(), None, "a record in an open folder was trusted");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_lock_is_exclusive_across_handles() {
        let d = scratch("lock");
        let r = Record::at(&d, "server");
        let held = r.lock().unwrap();
        assert!(r.try_lock().unwrap().is_none(), "try_lock took a held lock");
        let (tx, rx) = std::sync::mpsc::channel();
        let r2 = r.clone();
        let t = std::thread::spawn(move || {
            let _h = r2.lock().unwrap();
            tx.send(()).unwrap();
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(200))
                .is_err(),
            "lock shared"
        );
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(5))
            .expect("lock never released");
        t.join().unwrap();
        assert!(r.try_lock().unwrap().is_some(), "a free lock was refused");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
