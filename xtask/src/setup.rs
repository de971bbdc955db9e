//! Installs what the commands need on a fresh machine of this project's kind.

use std::process::{Command, Stdio};

use crate::{Result, root, run};

fn ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub(crate) fn docker_available() -> bool {
    ok(Command::new("timeout").args(["10", "docker", "info"]))
}

pub(crate) fn require_docker() -> Result {
    if docker_available() {
        Ok(())
    } else {
        Err(
            "the tests need a running Docker Engine (`docker info` failed): start it, or point \
             DOCKER_HOST at one"
                .into(),
        )
    }
}

pub(crate) fn nextest() -> Result {
    if ok(Command::new("cargo").args(["nextest", "--version"])) {
        return Ok(());
    }
    run(Command::new("cargo").args(["install", "cargo-nextest", "--locked"]))
}

/// Postgres server binaries (`initdb`, `postgres`) for the local backend, from Debian's
/// packages when missing.
pub(crate) fn postgres_binaries() -> Result {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().any(|e| e.path().join("bin/initdb").exists()))
        .unwrap_or(false);
    if found || ok(Command::new("initdb").arg("--version")) {
        return Ok(());
    }
    eprintln!("Postgres server binaries are missing: installing them from Debian's packages");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "postgresql"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// The local images the tests use (built from Debian's packages; no registry is needed).
pub(crate) fn images() -> Result {
    // The default three, and the other Postgres majors (the suites run against them too:
    // `versions` in fixtures-postgres, `cargo xtask versions`).
    run(Command::new("bash")
        .arg(root().join("scripts/build-images.sh"))
        .args(["postgres", "testsvc", "redis", "postgres13", "postgres17"]))
}

/// The locally built images, for the tests (users' default stays the official image).
pub(crate) fn test_images() -> Vec<(&'static str, String)> {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let pg = var("FIXTURES_TEST_POSTGRES_IMAGE", "fixtures-local/postgres:15");
    let svc = var("FIXTURES_TEST_SVC_IMAGE", "fixtures-local/testsvc:latest");
    let redis = var("FIXTURES_TEST_REDIS_IMAGE", "fixtures-local/redis:7");
    vec![
        ("FIXTURES_POSTGRES_IMAGE", pg.clone()),
        ("FIXTURES_TEST_POSTGRES_IMAGE", pg),
        ("FIXTURES_TEST_SVC_IMAGE", svc),
        ("FIXTURES_REDIS_IMAGE", redis.clone()),
        ("FIXTURES_TEST_REDIS_IMAGE", redis),
    ]
}

/// After a suite: no container, network or server of ours may be left (watchdogs get 15 s
/// to finish what a run left to them).
pub(crate) fn assert_nothing_left() -> Result {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        match leftovers() {
            Ok(()) => return Ok(()),
            Err(e) if std::time::Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(500)),
        }
    }
}

fn leftovers() -> Result {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--filter",
            "label=org.fixtures.managed-by=fixtures",
        ])
        .output()
        .map_err(|e| format!("docker ps: {e}"))?;
    let containers = String::from_utf8_lossy(&out.stdout).lines().count();
    let count = |what: &str| -> Result<usize> {
        let out = Command::new("docker")
            .args([
                what,
                "ls",
                "-q",
                "--filter",
                "label=org.fixtures.managed-by=fixtures",
            ])
            .output()
            .map_err(|e| format!("docker {what} ls: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().count())
    };
    let networks = count("network")?;
    let volumes = count("volume")?;
    let servers = Command::new("pgrep")
        .args(["-f", "cluster_name=fixtures-pg-local"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0);
    eprintln!(
        "\nleft behind: {containers} containers, {networks} networks, {volumes} volumes, \
         {servers} local servers"
    );
    if containers + networks + volumes + servers == 0 {
        Ok(())
    } else {
        Err(format!(
            "the test run left {containers} containers, {networks} networks, {volumes} volumes \
             and {servers} local Postgres servers of ours"
        ))
    }
}
