//! A run killed whole (a CI job cancelled: the test process and its watchdogs SIGKILLed
//! together, nothing of the run left to clean up) leaves no server behind: the server stops
//! itself once it has no client (`FIXTURES_PG_IDLE_STOP`, default 5 s) and its container or
//! data directory goes with it — within 10 s, on either backend.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use fixtures_postgres::{PgServer, pg_server};
use rstest::rstest;

use fixtures_core::Lease;

/// Holds the run's server (run as a child by the test below) and waits to be killed.
#[rstest]
#[ignore = "run by whole_run::a_run_killed_whole_leaves_no_server_after_10_s"]
#[tokio::test]
async fn hold_the_server(pg_server: Lease<PgServer>) {
    println!("HELD {}", pg_server.port());
    tokio::time::sleep(Duration::from_secs(120)).await;
}

/// The run's watchdogs a CI job's cancellation reaches: processes of this process's cgroup
/// (not the engine's containers) with `FIXTURES_RUN_ID=run` and a watchdog role.
fn watchdogs_of(run: &str) -> Vec<i32> {
    let want = format!("FIXTURES_RUN_ID={run}");
    let ours = std::fs::read_to_string("/proc/self/cgroup").ok();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read_to_string(entry.path().join("cgroup")).ok() != ours {
            continue;
        }
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
        let has = |s: &str| vars.contains(&s.as_bytes());
        let has_role = vars.iter().any(|v| v.starts_with(b"FIXTURES_ROLE="));
        if has(&want) && has_role {
            found.push(pid);
        }
    }
    found
}

/// What is left of run `run`: its containers, its postmasters and its data directories.
fn left_of(run: &str) -> Vec<String> {
    let mut left = Vec::new();
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=org.fixtures.run-id={run}"),
        ])
        .output()
        .expect("docker ps");
    for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        left.push(format!("container {id}"));
    }
    let needle = format!("run-{run}-");
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmd).contains(&needle)
        {
            left.push(format!("process {:?}", entry.file_name()));
        }
    }
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0);
    if let Ok(dir) = std::fs::read_dir(format!("/dev/shm/fixtures-pg-{uid}")) {
        for entry in dir.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&needle) {
                left.push(format!("data directory {:?}", entry.path()));
            }
        }
    }
    left
}

#[test]
fn a_run_killed_whole_leaves_no_server_after_10_s() {
    let run = format!("whole-kill-{}", std::process::id());
    let mut cmd = crate::children::own_run(&[
        "--ignored",
        "--exact",
        "whole_run::hold_the_server",
        "--nocapture",
    ]);
    // Its owner is this live process: no other run's sweep and no watchdog takes the run for
    // dead, so only the server's own stop can end it.
    cmd.env("FIXTURES_RUN_ID", &run)
        .env(
            "FIXTURES_RUN_OWNER",
            fixtures_core::watchdog::ProcessRef::current().to_string(),
        )
        .env_remove("FIXTURES_PG_IDLE_STOP")
        .env_remove("FIXTURES_REUSE")
        .process_group(0);
    let mut child = cmd.spawn().expect("the child run");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let held = stdout
        .lines()
        .map_while(Result::ok)
        .any(|line| line.starts_with("HELD "));
    assert!(held, "the child did not get its server: {:?}", child.wait());
    assert!(
        !left_of(&run).is_empty(),
        "nothing to leave behind: the check sees nothing"
    );

    // Everything of the run at once: its watchdogs (first, so that none sees the test
    // process die and cleans up), then the test process (its group).
    let group = i32::try_from(child.id()).unwrap();
    let watchdogs = watchdogs_of(&run);
    assert!(!watchdogs.is_empty(), "the run has no watchdog to kill");
    // SAFETY: plain signals to processes of this test's own child run.
    unsafe {
        for pid in &watchdogs {
            libc::kill(*pid, libc::SIGKILL);
        }
        libc::kill(-group, libc::SIGKILL);
    }
    let killed = Instant::now();
    let _ = child.wait();

    let mut left = left_of(&run);
    while !left.is_empty() && killed.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(250));
        left = left_of(&run);
    }
    let took = killed.elapsed();
    eprintln!("gone {took:?} after the kill");
    assert!(left.is_empty(), "left 15 s after the kill: {left:?}");
    assert!(took <= Duration::from_secs(10), "gone only after {took:?}");
    assert!(watchdogs_of(&run).is_empty(), "a watchdog survived");
}
