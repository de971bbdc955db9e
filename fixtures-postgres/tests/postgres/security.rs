//! A machine shared with other users: after a run, another local user (`nobody`) can read no
//! file of ours, list no folder of ours, and log in to our server with nothing found on disk;
//! a state folder another user planted (with a run note pointing at a server of theirs) or a
//! symbolic link is refused with a clear error. Needs root (to act as `nobody`), as CI has.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fixtures_core::prelude::*;
use fixtures_postgres::{PgServer, TestDb, pg_server};
use rstest::rstest;

use crate::children::{own_run, run, text};

fn as_root() -> bool {
    let root = fixtures_core::private::uid() == 0;
    assert!(
        root || std::env::var_os("FIXTURES_REQUIRE_DOCKER").is_none(),
        "the security tests act as another user: run them as root (CI does)"
    );
    root
}

/// Runs `script` with `sh` as the `nobody` user; its exit status and output.
fn as_nobody(script: &str) -> (bool, String) {
    let out = Command::new("su")
        .args(["-s", "/bin/sh", "nobody", "-c", script])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), all)
}

/// The folders of ours on this machine: the state folder and the local backend's data root.
fn our_folders() -> Vec<PathBuf> {
    let uid = fixtures_core::private::uid();
    let data_root = std::env::var_os("FIXTURES_PG_DATA_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/dev/shm/fixtures-pg-{uid}")));
    [fixtures_core::watchdog::state_dir(), data_root]
        .into_iter()
        .filter(|d| d.exists())
        .collect()
}

#[rstest]
#[tokio::test]
async fn another_user_reads_nothing_of_ours_and_cannot_log_in(
    #[from(crate::pg::test_scope::db)] db: Lease<TestDb>,
    pg_server: Lease<PgServer>,
) {
    if !as_root() {
        return;
    }
    let folders = our_folders();
    assert!(!folders.is_empty(), "no folder of ours to check");
    for dir in &folders {
        let d = dir.display();
        let (_, readable) = as_nobody(&format!("find {d} -readable -type f 2>/dev/null"));
        assert_eq!(
            readable.trim(),
            "",
            "files of ours readable by another user"
        );
        let (listed, out) = as_nobody(&format!("ls {d}"));
        assert!(!listed, "another user lists {d}: {out}");
        let (wrote, _) = as_nobody(&format!("touch {d}/planted"));
        assert!(!wrote, "another user writes into {d}");
    }
    // Logging in: with no password, and with every 32-hex-digit string anyone can read in our
    // folders (none, above) — the server's own password is the test's to know, not nobody's.
    let url = format!(
        "postgresql://postgres@{}:{}/postgres",
        pg_server.host(),
        pg_server.port()
    );
    let (logged_in, out) = as_nobody(&format!(
        "PGCONNECT_TIMEOUT=5 psql '{url}' -w -c 'SELECT 1' 2>&1"
    ));
    assert!(
        !logged_in,
        "another user logged in without a password: {out}"
    );
    // The test itself still works.
    sqlx::query("SELECT 1").execute(&db.pool()).await.unwrap();
}

/// A password a test could have seen (printed, logged, kept by a tool) is its run's alone: the
/// next run's server takes another, on both of our own backends.
#[rstest]
#[tokio::test]
async fn a_password_seen_once_opens_no_later_runs_server(pg_server: Lease<PgServer>) {
    if pg_server.backend() == fixtures_postgres::Backend::External {
        return; // the user's server, the user's password
    }
    let out = run(
        &mut own_run(&[
            "--ignored",
            "--exact",
            "--nocapture",
            "children::report_server_url",
        ]),
        Duration::from_secs(180),
    );
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let earlier = all
        .lines()
        .find_map(|l| l.strip_prefix("SERVER-URL="))
        .unwrap_or_else(|| panic!("no URL reported: {all}"));
    let password = |url: &str| {
        let userinfo = url.split_once("://").unwrap().1.rsplit_once('@').unwrap().0;
        userinfo.split_once(':').unwrap().1.to_owned()
    };
    let seen = password(earlier);
    assert_ne!(
        seen,
        password(&pg_server.url("postgres")),
        "one password for two runs"
    );
    // Our server refuses the earlier run's password.
    let stolen = format!(
        "postgres://postgres:{seen}@{}:{}/postgres",
        pg_server.host(),
        pg_server.port()
    );
    let options: sqlx::postgres::PgConnectOptions = stolen.parse().unwrap();
    use sqlx::ConnectOptions;
    let result = options.connect().await;
    assert!(
        result.is_err(),
        "an earlier run's password opened this run's server"
    );
}

/// A state folder another user made first, with a run note pointing at a server of theirs.
fn planted_state(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fx-planted-{name}-{}", std::process::id()));
    let d = dir.display();
    let _ = Command::new("rm").args(["-rf", &d.to_string()]).status();
    let (ok, out) = as_nobody(&format!(
        "mkdir -p {d}/runs/planted-run && chmod -R 777 {d} && \
         printf 'image=fixtures-local/postgres:15\\nhost=10.99.99.99\\nport=5432\\n' > {d}/runs/planted-run/note-pg-docker-server"
    ));
    assert!(ok, "{out}");
    dir
}

fn refused(state: &Path) -> String {
    refused_with(&[("FIXTURES_STATE_DIR", state)])
}

/// A run (one test that takes a database) with these settings: it must fail, refusing.
fn refused_with(settings: &[(&str, &Path)]) -> String {
    let mut cmd = own_run(&["--ignored", "--exact", "children::report_template_origin"]);
    cmd.env("FIXTURES_RUN_ID", "planted-run");
    for (k, v) in settings {
        cmd.env(k, v);
    }
    let out = run(&mut cmd, Duration::from_secs(120));
    let all = text(&out);
    assert!(
        !out.status.success(),
        "a run used a planted state folder: {all}"
    );
    assert!(all.contains("refusing to use"), "{all}");
    all
}

#[rstest]
#[tokio::test]
async fn a_state_folder_planted_by_another_user_or_a_symlink_is_refused() {
    if !as_root() {
        return;
    }
    let planted = planted_state("state");
    let all = refused(&planted);
    assert!(all.contains("owned by uid 65534"), "{all}");
    assert!(
        !all.contains("10.99.99.99"),
        "the planted address was used: {all}"
    );
    let _ = std::fs::remove_dir_all(&planted);

    // A symbolic link where the state folder goes, to a folder of ours.
    let target = std::env::temp_dir().join(format!("fx-link-target-{}", std::process::id()));
    fixtures_core::private::ensure(&target, false).unwrap();
    let link = std::env::temp_dir().join(format!("fx-link-{}", std::process::id()));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let all = refused(&link);
    assert!(all.contains("symbolic link"), "{all}");
    std::fs::remove_file(&link).unwrap();
    std::fs::remove_dir_all(&target).unwrap();
}

#[rstest]
#[tokio::test]
async fn a_data_root_planted_by_another_user_is_refused() {
    if !as_root() {
        return;
    }
    // Another user's data root, with a server record of theirs in a run folder.
    let dir = std::env::temp_dir().join(format!("fx-planted-root-{}", std::process::id()));
    let d = dir.display();
    let _ = Command::new("rm").args(["-rf", &d.to_string()]).status();
    let (ok, out) = as_nobody(&format!(
        "mkdir -p {d}/run-planted && chmod -R 777 {d} && \
         printf '1 1 5432 10.99.99.99\\n' > {d}/run-planted/server"
    ));
    assert!(ok, "{out}");
    let all = refused_with(&[
        ("FIXTURES_PG_BACKEND", Path::new("local")),
        ("FIXTURES_PG_DATA_ROOT", &dir),
    ]);
    assert!(all.contains("owned by uid 65534"), "{all}");
    assert!(
        !all.contains("10.99.99.99"),
        "the planted record was used: {all}"
    );
    assert!(
        dir.join("run-planted/server").exists(),
        "another user's file was removed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
