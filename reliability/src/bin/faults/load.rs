//! `--load`: the 1,000 tests of `tests/load.rs` under `cargo test --test-threads=16` and under
//! `cargo nextest run -j 8`, with servers counted at peak, setups read from the fixture report,
//! and leftovers counted after.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reliability::leftovers::Leftovers;

/// One load run's figures.
struct LoadRun {
    label: String,
    passed: usize,
    failed: usize,
    peak_servers: usize,
    pg_server_setups: u64,
    shared_setups: u64,
    processes: usize,
    elapsed: Duration,
    left: Leftovers,
    exit_ok: bool,
}

fn count(text: &str, key: &str) -> usize {
    // libtest: "test result: ok. 1000 passed; 0 failed;"; nextest: "1000 tests run: 1000 passed"
    text.lines()
        .filter_map(|l| {
            let i = l.find(key)?;
            l[..i].split_whitespace().last()?.parse::<usize>().ok()
        })
        .max()
        .unwrap_or(0)
}

fn one(root: &Path, seed: u64, nextest: bool) -> std::io::Result<LoadRun> {
    let run_id = format!("load{seed}{}", if nextest { "n" } else { "c" });
    let report = std::env::temp_dir().join(format!("fixtures-load-{run_id}.jsonl"));
    let _ = std::fs::remove_file(&report);
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root);
    if nextest {
        cmd.args(["nextest", "run", "-p", "reliability", "--test", "load"])
            .args(["--run-ignored", "only", "-j", "8", "--hide-progress-bar"])
            .args(["--no-fail-fast", "--cargo-quiet", "--status-level", "fail"]);
    } else {
        cmd.args(["test", "-q", "-p", "reliability", "--test", "load", "--"])
            .args(["--ignored", "--test-threads", "16"]);
    }
    cmd.env("FIXTURES_RUN_ID", &run_id)
        .env("FIXTURES_REPORT_FILE", &report)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    if std::env::var_os("FIXTURES_POSTGRES_IMAGE").is_none() {
        cmd.env("FIXTURES_POSTGRES_IMAGE", "fixtures-local/postgres:15");
    }
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, run_id) = (peak.clone(), done.clone(), run_id.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let l = Leftovers::of_run(&run_id);
                peak.fetch_max(l.containers.len() + l.servers.len(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let start = Instant::now();
    let out = cmd.output()?;
    let elapsed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let (left, _) = Leftovers::settle(&run_id, Duration::from_secs(10));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut pg_server_setups, mut shared_setups) = (0, 0);
    let mut pids = std::collections::BTreeSet::new();
    for line in std::fs::read_to_string(&report).unwrap_or_default().lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        pids.insert(v["pid"].as_u64().unwrap_or(0));
        let setups = v["setups"].as_u64().unwrap_or(0);
        match v["fixture"].as_str() {
            Some("pg_server") => pg_server_setups += setups,
            Some("shared_db") => shared_setups += setups,
            _ => {}
        }
    }
    let _ = std::fs::remove_file(&report);
    if !out.status.success() {
        for l in text
            .lines()
            .filter(|l| l.contains("panicked") || l.contains("leak"))
            .take(10)
        {
            println!("    | {l}");
        }
    }
    Ok(LoadRun {
        label: if nextest {
            "nextest -j 8".into()
        } else {
            "cargo test --test-threads=16".into()
        },
        passed: count(&text, " passed"),
        failed: count(&text, " failed"),
        peak_servers: peak.load(Ordering::Relaxed),
        pg_server_setups,
        shared_setups,
        processes: pids.len(),
        elapsed,
        left,
        exit_ok: out.status.success(),
    })
}

/// Runs the load under both runners; prints (and with `record`, writes) the table.
pub(crate) fn run(root: &Path, seed: u64, record: bool) -> ExitCode {
    let mut table = String::from(
        "| runner | tests passed | failed (cross-test leaks) | servers at peak | `pg_server` setups | shared-db setups | processes | time | left after 10 s |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let mut ok = true;
    for nextest in [false, true] {
        let r = match one(root, seed, nextest) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("faults --load: {e}");
                return ExitCode::FAILURE;
            }
        };
        ok &= r.exit_ok && r.failed == 0 && r.peak_servers <= 1 && r.left.total() == 0;
        let row = format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} s | {} |\n",
            r.label,
            r.passed,
            r.failed,
            r.peak_servers,
            r.pg_server_setups,
            r.shared_setups,
            r.processes,
            r.elapsed.as_secs_f64(),
            r.left
        );
        print!("{row}");
        table.push_str(&row);
    }
    println!("\n{table}");
    if record
        && let Err(e) = crate::record_block(
            root,
            "<!-- load:begin -->",
            "<!-- load:end -->",
            &format!("Seed {seed}.\n\n{table}"),
        )
    {
        eprintln!("faults: writing RELIABILITY.md: {e}");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
