//! What the machine gives the local backend: its Postgres binaries, the user the server runs
//! as, and the tmpfs folder for data directories.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::Error;

/// The Postgres binaries to use.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub(crate) bindir: PathBuf,
}

impl Binaries {
    /// Finds `initdb` and `postgres`: `FIXTURES_PG_BINDIR`, `PATH`, `pg_config --bindir`,
    /// then `/usr/lib/postgresql/*/bin` (newest version first).
    pub(crate) fn find() -> Result<Binaries, Error> {
        let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
        let mut tried = Vec::new();
        if let Ok(dir) = std::env::var("FIXTURES_PG_BINDIR") {
            let dir = PathBuf::from(dir);
            if has_both(&dir) {
                return Ok(Binaries { bindir: dir });
            }
            return Err(Error::Config {
                setting: "FIXTURES_PG_BINDIR".into(),
                value: dir.display().to_string(),
                expected: "a folder holding `initdb` and `postgres`".into(),
            });
        }
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            // `initdb` on PATH is often a symlink into the real bin folder.
            if let Ok(real) = fs::canonicalize(dir.join("initdb"))
                && let Some(parent) = real.parent()
                && has_both(parent)
            {
                return Ok(Binaries {
                    bindir: parent.to_path_buf(),
                });
            }
        }
        tried.push("PATH".to_owned());
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if has_both(&dir) {
                return Ok(Binaries { bindir: dir });
            }
        }
        tried.push("pg_config --bindir".to_owned());
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                has_both(&bin).then_some((v, bin))
            })
            .collect();
        versions.sort();
        tried.push("/usr/lib/postgresql/*/bin".to_owned());
        match versions.pop() {
            Some((_, bindir)) => Ok(Binaries { bindir }),
            None => Err(Error::LocalServer {
                step: "finding initdb and postgres",
                detail: format!(
                    "not found (looked in {}); install them (Debian: `apt-get install \
                     postgresql`), set FIXTURES_PG_BINDIR, or use another backend \
                     (FIXTURES_PG_BACKEND=docker, or FIXTURES_PG_URL)",
                    tried.join(", ")
                ),
            }),
        }
    }

    pub(super) fn version(&self) -> String {
        Command::new(self.bindir.join("postgres"))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }
}

/// The user the server runs as: this user, or `postgres` when this is root (Postgres refuses
/// to run as root).
#[derive(Debug, Clone, Copy)]
pub(super) struct RunAs {
    uid: u32,
    gid: u32,
}

impl RunAs {
    pub(super) fn pick() -> Result<Option<RunAs>, Error> {
        let me = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
        if me != 0 {
            return Ok(None);
        }
        let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
        passwd
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 3 && f[0] == "postgres").then(|| {
                    Some(RunAs {
                        uid: f[2].parse().ok()?,
                        gid: f[3].parse().ok()?,
                    })
                })?
            })
            .map(Some)
            .ok_or_else(|| Error::LocalServer {
                step: "choosing a user",
                detail: "running as root, and there is no `postgres` user to run the server as \
                         (Postgres refuses to run as root); create one (`useradd postgres`) or \
                         run the tests as another user"
                    .into(),
            })
    }

    pub(super) fn own(&self, path: &Path) -> std::io::Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
    }
}

pub(super) fn command(bin: &Path, run_as: Option<RunAs>) -> Command {
    let mut cmd = Command::new(bin);
    if let Some(r) = run_as {
        cmd.uid(r.uid).gid(r.gid);
    }
    cmd.env_remove("PGDATA")
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    cmd
}

/// The folder on tmpfs for data directories (`FIXTURES_PG_DATA_ROOT` overrides).
pub(super) fn data_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("FIXTURES_PG_DATA_ROOT") {
        return PathBuf::from(dir);
    }
    let uid = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
    let shm = Path::new("/dev/shm");
    if fs::metadata(shm).is_ok_and(|m| m.is_dir()) {
        return shm.join(format!("fixtures-pg-{uid}"));
    }
    tracing::warn!(
        "/dev/shm is missing: the local Postgres server keeps its data on disk, which is 10-20× \
         slower for CREATE DATABASE; set FIXTURES_PG_DATA_ROOT to a tmpfs folder"
    );
    std::env::temp_dir().join(format!("fixtures-pg-{uid}"))
}
