//! Sharding a suite as CI machines do: `cargo nextest run --partition count:1/2` and
//! `count:2/2` at the same time, sharing one external server (`FIXTURES_PG_URL`), the second
//! in a PID namespace of its own (`unshare --pid --fork --mount-proc`, as a CI job in a
//! container): both must pass — neither's start-up sweep may drop the other's databases,
//! containers or run folder under its tests — and leave nothing on the server: each run's
//! watchdog sweeps it when the run is over; a run whose PID namespace ended took its watchdog
//! with it, and the other run's watchdog (or the next run's) sweeps for it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bench::docker;
use crate::{Result, cargo, root};

/// The suite sharded: the example application's tests, in all three scopes.
pub(crate) const PACKAGE: &str = "examples";
/// Its Postgres tests: the containers of a run in a PID namespace of its own outlive it when
/// the namespace ends (its watchdog dies with it) and are not swept from another namespace
/// while they may be alive (RELIABILITY.md, "Runs in other PID namespaces").
pub(crate) const FILTER: &str = "not test(/^(containers|compose|redis)::/)";

/// Runs the two partitions against a server of its own (a container removed at the end).
pub(crate) fn run(env: &[(&'static str, String)]) -> Result {
    let image = env
        .iter()
        .find(|(k, _)| *k == "FIXTURES_TEST_POSTGRES_IMAGE")
        .map_or("fixtures-local/postgres:15".to_owned(), |(_, v)| v.clone());
    let server = Server::start(&image)?;
    let outcome = partitions(env, Some(&server.url)).and_then(|()| leftovers(env, &server));
    drop(server);
    outcome?;
    // The same two partitions sharing one Docker engine instead: each run starts its own
    // server on it; neither's sweep may remove the other's container, and nothing is left.
    let mut docker: Vec<(&'static str, String)> = env
        .iter()
        .filter(|(k, _)| *k != "FIXTURES_PG_BACKEND")
        .cloned()
        .collect();
    docker.push(("FIXTURES_PG_BACKEND", "docker".into()));
    partitions(&docker, None)?;
    crate::setup::assert_nothing_left()
}

/// What the two runs left on the server: a run's watchdog drops its databases once its
/// runner is gone (here within 15 s); a run whose PID namespace ended took its watchdog
/// with it (as a CI job's container does), and the next run's start-up sweep drops them.
fn leftovers(env: &[(&'static str, String)], server: &Server) -> Result {
    let settled = |limit: Duration| -> Result<Vec<String>> {
        let until = Instant::now() + limit;
        loop {
            let left = server.databases()?;
            if left.is_empty() || Instant::now() > until {
                return Ok(left);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let after_runs = settled(Duration::from_secs(15))?;
    eprintln!("partitions: databases left 15 s after both ended: {after_runs:?}");
    if after_runs.is_empty() {
        return Ok(());
    }
    let mut next = cargo(&[
        "nextest",
        "run",
        "-p",
        PACKAGE,
        "-E",
        "test(=module_scope::identities_start_at_one)",
    ]);
    next.envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env_remove("FIXTURES_PG_BACKEND")
        .env("FIXTURES_PG_URL", &server.url);
    crate::run(&mut next)?;
    let after_next = settled(Duration::from_secs(15))?;
    if after_next.is_empty() {
        eprintln!("partitions: the next run's watchdog swept them; nothing left");
        Ok(())
    } else {
        Err(format!(
            "partitions: {} databases left on the shared server after the next run: {after_next:?}",
            after_next.len()
        ))
    }
}

/// The two partitions at once, on the server at `url` (an external one) or, without one, each
/// on its own server of `env`'s backend.
fn partitions(env: &[(&'static str, String)], url: Option<&str>) -> Result {
    // Built once before, so that the two do not wait for each other's build.
    let mut build = cargo(&["nextest", "run", "-p", PACKAGE, "--no-run"]);
    crate::run(build.envs(env.iter().map(|(k, v)| (*k, v.as_str()))))?;
    let unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let started = Instant::now();
    let mut children = Vec::new();
    for (k, part) in ["count:1/2", "count:2/2"].into_iter().enumerate() {
        let mut cmd = if k == 1 && unshare {
            let mut c = Command::new("unshare");
            c.args(["--pid", "--fork", "--mount-proc"])
                .arg(cargo(&[]).get_program());
            c
        } else {
            cargo(&[])
        };
        cmd.args([
            "nextest",
            "run",
            "-p",
            PACKAGE,
            "--partition",
            part,
            "-E",
            FILTER,
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(root())
        .stdin(Stdio::null());
        if let Some(url) = url {
            cmd.env_remove("FIXTURES_PG_BACKEND")
                .env("FIXTURES_PG_URL", url);
        }
        eprintln!(
            "\n==> partition {part}{}",
            if k == 1 && unshare {
                " (own PID namespace)"
            } else {
                ""
            }
        );
        children.push((
            part,
            cmd.spawn().map_err(|e| format!("nextest {part}: {e}"))?,
        ));
    }
    let mut failed = Vec::new();
    for (part, mut child) in children {
        let status = child.wait().map_err(|e| format!("nextest {part}: {e}"))?;
        if !status.success() {
            failed.push(format!("partition {part} exited with {status}"));
        }
    }
    eprintln!(
        "<== {:.1}s both partitions",
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// A Postgres container standing for a server several machines share.
pub(crate) struct Server {
    id: String,
    pub(crate) url: String,
}

impl Server {
    pub(crate) fn start(image: &str) -> Result<Server> {
        let password = format!("shared{}", std::process::id());
        let out = Command::new("docker")
            .args([
                "run",
                "-d",
                "--rm",
                "-p",
                "127.0.0.1::5432",
                "-e",
                &format!("POSTGRES_PASSWORD={password}"),
                "-e",
                "POSTGRES_HOST_AUTH_METHOD=md5",
                "--tmpfs",
                "/var/lib/postgresql/data",
                image,
                "postgres",
                "-c",
                "max_connections=300",
                "-c",
                "fsync=off",
            ])
            .output()
            .map_err(|e| format!("docker run: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "docker run {image}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let mut server = Server {
            id,
            url: String::new(),
        };
        let port = docker(&["port", &server.id, "5432/tcp"])?;
        let port = port
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .unwrap_or("")
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        while server
            .psql("SELECT 1")
            .map(|o| o.trim() != "1")
            .unwrap_or(true)
        {
            if Instant::now() > deadline {
                return Err("the shared server did not get ready within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        server.url = format!("postgres://postgres:{password}@127.0.0.1:{port}/postgres");
        Ok(server)
    }

    /// Runs `sql` in the container (over its socket), returns the rows' text.
    pub(crate) fn psql(&self, sql: &str) -> Result<String> {
        docker(&["exec", "-u", "postgres", &self.id, "psql", "-XAtqc", sql])
    }

    /// The databases on the server other than its own three.
    pub(crate) fn databases(&self) -> Result<Vec<String>> {
        Ok(self
            .psql("SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')")?
            .lines()
            .map(str::to_owned)
            .collect())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.id]);
    }
}
