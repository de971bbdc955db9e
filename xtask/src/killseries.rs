//! Two runs at once on one shared server, the second in a PID namespace of its own (as a CI
//! job in a container) SIGKILLed whole at a random moment — its namespace and every process
//! in it, watchdog included: the survivor's tests must all pass (no sweep drops its live
//! databases), and nothing of the killed run may be left once the survivor has ended (its
//! watchdog sweeps runs of other namespaces whose lock stays free) or, failing that, after the
//! next run. `cargo xtask kill-series [--runs N] [--seed N]`; CI runs 2.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::partitions::{FILTER, PACKAGE, Server};
use crate::{Result, cargo, root};

/// One run of the series.
struct Outcome {
    killed_after: Duration,
    /// Whether the victim still ran when it was killed (it may have finished first).
    victim_running: bool,
    /// Databases on the server just before the kill (both runs').
    at_kill: usize,
    survivor_passed: bool,
    left_after_survivor: usize,
    left_after_next: Option<usize>,
}

/// A small deterministic generator (xorshift), for kill moments that a seed reproduces.
struct Rng(u64);

impl Rng {
    fn below_ms(&mut self, low: u64, high: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(low + self.0 % (high - low))
    }
}

fn nextest(env: &[(&'static str, String)], url: &str) -> Command {
    let mut c = cargo(&[
        "nextest",
        "run",
        "--no-fail-fast",
        "-p",
        PACKAGE,
        "-E",
        FILTER,
    ]);
    c.envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env_remove("FIXTURES_PG_BACKEND")
        .env("FIXTURES_PG_URL", url)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn victim(env: &[(&'static str, String)], url: &str) -> Result<Child> {
    let inner = nextest(env, url);
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(inner.get_program())
        .args(inner.get_args())
        .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env_remove("FIXTURES_PG_BACKEND")
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c.spawn().map_err(|e| format!("unshare: {e}"))
}

fn settle(server: &Server, limit: Duration) -> Result<usize> {
    let until = Instant::now() + limit;
    loop {
        let left = server.databases()?.len();
        if left == 0 || Instant::now() > until {
            return Ok(left);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The databases on the server with their marks, for the report of a run that left some.
fn left_list(server: &Server) -> Result<String> {
    server.psql(
        "SELECT datname || ' ' || coalesce(shobj_description(oid, 'pg_database'), '(no mark)') \
         FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')",
    )
}

fn one(env: &[(&'static str, String)], server: &Server, rng: &mut Rng) -> Result<Outcome> {
    let mut survivor = nextest(env, &server.url)
        .spawn()
        .map_err(|e| format!("nextest: {e}"))?;
    let mut killed = victim(env, &server.url)?;
    let killed_after = rng.below_ms(300, 6000);
    std::thread::sleep(killed_after);
    let at_kill = server.databases()?.len();
    let victim_running = matches!(killed.try_wait(), Ok(None));
    // SIGKILL to `unshare`: `--kill-child` kills the namespace's first process, and the kernel
    // every other process of the namespace with it.
    let _ = killed.kill();
    let _ = killed.wait();
    let survivor_passed = survivor
        .wait()
        .map_err(|e| format!("nextest: {e}"))?
        .success();
    let left_after_survivor = settle(server, Duration::from_secs(20))?;
    if left_after_survivor > 0 {
        eprintln!("     left after the survivor: {}", left_list(server)?);
    }
    let left_after_next = if left_after_survivor > 0 {
        let mut next = nextest(env, &server.url);
        next.args(["-E", "test(=module_scope::identities_start_at_one)"]);
        let _ = next.status();
        Some(settle(server, Duration::from_secs(20))?)
    } else {
        None
    };
    Ok(Outcome {
        killed_after,
        victim_running,
        at_kill,
        survivor_passed,
        left_after_survivor,
        left_after_next,
    })
}

/// `runs` runs of the series with kill moments from `seed`; fails unless every survivor
/// passed and nothing was left in the end.
pub(crate) fn run(env: &[(&'static str, String)], runs: usize, seed: u64) -> Result {
    let image = env
        .iter()
        .find(|(k, _)| *k == "FIXTURES_TEST_POSTGRES_IMAGE")
        .map_or("fixtures-local/postgres:15".to_owned(), |(_, v)| v.clone());
    let mut build = cargo(&["nextest", "run", "-p", PACKAGE, "--no-run"]);
    crate::run(build.envs(env.iter().map(|(k, v)| (*k, v.as_str()))))?;
    let server = Server::start(&image)?;
    let mut rng = Rng(seed.max(1));
    let mut failed = Vec::new();
    println!(
        "\nrun | killed after | victim running | databases at the kill | survivor | left 20 s \
         after it | left after the next run"
    );
    for i in 1..=runs {
        let o = one(env, &server, &mut rng)?;
        println!(
            "{i:3} | {:>10.1} s | {} | {} | {} | {} | {}",
            o.killed_after.as_secs_f64(),
            if o.victim_running { "yes" } else { "no" },
            o.at_kill,
            if o.survivor_passed {
                "passed"
            } else {
                "FAILED"
            },
            o.left_after_survivor,
            o.left_after_next.map_or("-".to_owned(), |n| n.to_string())
        );
        if !o.survivor_passed || o.left_after_next.unwrap_or(0) > 0 {
            eprintln!("     left after the next run: {}", left_list(&server)?);
            failed.push(i);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "kill series: runs {failed:?} failed (survivor failed or databases left)"
        ))
    }
}
