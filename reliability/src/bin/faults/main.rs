//! The fault harness: runs the examples' suite (and the victims) under faults, counts what each
//! run left, checks that the next run passes, and prints the table (`--record` writes it into
//! `RELIABILITY.md`).
//!
//! ```text
//! cargo run -p reliability --bin faults -- --quick            # a few of each kind (CI)
//! cargo run -p reliability --bin faults -- --full --record    # every combination
//! cargo run -p reliability --bin faults -- --only SIGKILL@migrations --runner nextest --backend local --seed 7
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reliability::leftovers::Leftovers;
use reliability::report;
use reliability::rng::Rng;
use reliability::scenario::{
    Backend, Env, Fault, Judged, Phase, Runner, Scenario, Victim, execute,
};

mod load;

const BEGIN: &str = "<!-- faults:begin -->";
const END: &str = "<!-- faults:end -->";

#[derive(Debug)]
struct Args {
    mode: Mode,
    seed: u64,
    only: Option<String>,
    runner: Option<String>,
    backend: Option<String>,
    repeat: usize,
    record: bool,
    verbose: bool,
    load: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Quick,
    Full,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        mode: Mode::Quick,
        seed: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() % 100_000)
            .unwrap_or(1),
        only: None,
        runner: None,
        backend: None,
        repeat: 1,
        record: false,
        verbose: false,
        load: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--quick" => args.mode = Mode::Quick,
            "--full" => args.mode = Mode::Full,
            "--record" => args.record = true,
            "--verbose" => args.verbose = true,
            "--load" => args.load = true,
            "--seed" => {
                args.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            "--repeat" => {
                args.repeat = value("--repeat")?
                    .parse()
                    .map_err(|e| format!("--repeat: {e}"))?
            }
            "--only" => args.only = Some(value("--only")?),
            "--runner" => args.runner = Some(value("--runner")?),
            "--backend" => args.backend = Some(value("--backend")?),
            "-h" | "--help" => {
                return Err("usage: faults [--quick|--full] [--seed N] [--repeat N] \
                            [--only SCENARIO] [--runner cargo|nextest] [--backend docker|local] \
                            [--record] [--verbose] [--load]"
                    .into());
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

/// Every applicable combination.
fn all_scenarios() -> Vec<Scenario> {
    let mut faults = Vec::new();
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGKILL] {
        for phase in Phase::ALL {
            faults.push(Fault::Signal { signal, phase });
        }
    }
    for v in [Victim::Panics, Victim::Exits, Victim::Aborts] {
        faults.push(Fault::Victim(v));
    }
    faults.push(Fault::NextestTimeout { grace_secs: 2 });
    faults.push(Fault::NextestTimeout { grace_secs: 0 });
    faults.push(Fault::EngineUnreachable);
    for phase in Phase::ALL {
        faults.push(Fault::WholeRun { phase });
    }
    let mut out = Vec::new();
    for runner in [Runner::Cargo, Runner::Nextest] {
        for backend in [Backend::Docker, Backend::Local] {
            for fault in &faults {
                let s = Scenario {
                    fault: *fault,
                    runner,
                    backend,
                };
                if s.applies() {
                    out.push(s);
                }
            }
        }
    }
    out
}

/// A few of each kind: one signal of each sort at a random phase per runner and backend, the
/// three victims, a nextest timeout, an unreachable engine.
fn quick_scenarios(rng: &mut Rng) -> Vec<Scenario> {
    let mut out = Vec::new();
    let combos = [
        (Runner::Cargo, Backend::Docker, libc::SIGINT),
        (Runner::Cargo, Backend::Docker, libc::SIGKILL),
        (Runner::Cargo, Backend::Local, libc::SIGTERM),
        (Runner::Cargo, Backend::Local, libc::SIGKILL),
        (Runner::Nextest, Backend::Docker, libc::SIGTERM),
        (Runner::Nextest, Backend::Local, libc::SIGINT),
        (Runner::Nextest, Backend::Docker, libc::SIGKILL),
    ];
    for (runner, backend, signal) in combos {
        loop {
            let phase = Phase::ALL[rng.below(Phase::ALL.len() as u64) as usize];
            let s = Scenario {
                fault: Fault::Signal { signal, phase },
                runner,
                backend,
            };
            if s.applies() {
                out.push(s);
                break;
            }
        }
    }
    for (v, runner, backend) in [
        (Victim::Panics, Runner::Cargo, Backend::Docker),
        (Victim::Exits, Runner::Cargo, Backend::Local),
        (Victim::Aborts, Runner::Cargo, Backend::Docker),
        (Victim::Aborts, Runner::Nextest, Backend::Local),
    ] {
        out.push(Scenario {
            fault: Fault::Victim(v),
            runner,
            backend,
        });
    }
    out.push(Scenario {
        fault: Fault::NextestTimeout { grace_secs: 2 },
        runner: Runner::Nextest,
        backend: Backend::Docker,
    });
    out.push(Scenario {
        fault: Fault::EngineUnreachable,
        runner: Runner::Cargo,
        backend: Backend::Docker,
    });
    for (runner, backend) in [
        (Runner::Nextest, Backend::Docker),
        (Runner::Cargo, Backend::Local),
    ] {
        out.push(Scenario {
            fault: Fault::WholeRun {
                phase: Phase::Random,
            },
            runner,
            backend,
        });
    }
    out
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Builds the test binaries and finds them in cargo's JSON messages.
fn build(root: &Path) -> Result<Env, String> {
    let out = Command::new("cargo")
        .current_dir(root)
        .args([
            "test",
            "-p",
            "examples",
            "-p",
            "reliability",
            "--test",
            "app",
            "--test",
            "victims",
            "--no-run",
            "--message-format=json",
        ])
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building the test binaries failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let (mut app, mut victims) = (None, None);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        match msg["target"]["name"].as_str() {
            Some("app") => app = Some(PathBuf::from(exe)),
            Some("victims") => victims = Some(PathBuf::from(exe)),
            _ => {}
        }
    }
    // nextest builds the same binaries; build them now so its runs do not compile.
    let _ = Command::new("cargo")
        .current_dir(root)
        .args(["nextest", "list", "-p", "examples", "-p", "reliability"])
        .args(["--test", "app", "--test", "victims"])
        .output();
    Ok(Env {
        root: root.to_path_buf(),
        app_bin: app.ok_or("cargo did not report the examples' `app` test binary")?,
        victims_bin: victims.ok_or("cargo did not report the `victims` test binary")?,
    })
}

fn record(root: &Path, table: &str, header: &str) -> std::io::Result<()> {
    record_block(root, BEGIN, END, &format!("{header}\n\n{table}"))
}

/// Replaces the text between `begin` and `end` in `RELIABILITY.md` (appends when missing).
pub(crate) fn record_block(root: &Path, begin: &str, end: &str, body: &str) -> std::io::Result<()> {
    let path = root.join("RELIABILITY.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let block = format!("{begin}\n{body}{end}");
    let new = match (text.find(begin), text.find(end)) {
        (Some(b), Some(e)) if e > b => format!("{}{block}{}", &text[..b], &text[e + end.len()..]),
        _ => format!("{text}\n{block}\n"),
    };
    std::fs::write(path, new)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let root = workspace_root();
    let env = match build(&root) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("faults: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.load {
        return load::run(&root, args.seed, args.record);
    }
    let mut rng = Rng::new(args.seed);
    let mode = if args.mode == Mode::Full {
        "full"
    } else {
        "quick"
    };
    println!(
        "faults: mode {mode}, seed {} (rerun with --seed {0})",
        args.seed
    );
    let mut scenarios = match args.mode {
        Mode::Quick => quick_scenarios(&mut rng),
        Mode::Full => all_scenarios(),
    };
    scenarios.retain(|s| {
        args.only.as_ref().is_none_or(|o| s.fault.name() == *o)
            && args
                .runner
                .as_ref()
                .is_none_or(|r| s.runner.name().contains(r.as_str()))
            && args.backend.as_ref().is_none_or(|b| s.backend.name() == b)
    });
    let started = Instant::now();
    let mut judged: Vec<Judged> = Vec::new();
    let total = scenarios.len() * args.repeat;
    let mut n = 0;
    for _ in 0..args.repeat {
        for s in &scenarios {
            n += 1;
            let run_id = format!("rel{}x{n}", args.seed);
            match execute(&env, s, &run_id, &mut rng) {
                Ok(j) => {
                    println!(
                        "[{n}/{total}] {} | {} | {} | {} in {:.1}s | left {} after {:.1}s, {} after next run | next run {} | {}",
                        s.fault.name(),
                        s.runner.name(),
                        s.backend.name(),
                        j.outcome.describe(),
                        j.outcome.elapsed.as_secs_f64(),
                        j.after_wait,
                        j.settle.as_secs_f64(),
                        j.after_next,
                        if j.next_passed { "passed" } else { "FAILED" },
                        if j.ok() { "ok" } else { "NOT OK" },
                    );
                    if args.verbose {
                        for l in j.outcome.text.lines() {
                            println!("    | {l}");
                        }
                    } else if !j.ok() {
                        for l in j.outcome.tail.iter().rev().take(8).rev() {
                            println!("    | {l}");
                        }
                    }
                    judged.push(j);
                }
                Err(e) => {
                    eprintln!("faults: {}: {e}", s.fault.name());
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let seed = args.seed;
    let table = report::markdown(&judged, |scenario, runner, backend| {
        let runner = if runner == "nextest" {
            "nextest"
        } else {
            "cargo"
        };
        format!(
            "cargo run -p reliability --bin faults -- --full --only '{scenario}' --runner {runner} --backend {backend} --seed {seed}"
        )
    });
    let ok = judged.iter().filter(|j| j.ok()).count();
    // Whatever else runs on the machine (other runs) is reported, not judged.
    let machine = Leftovers::all_runs();
    let header = format!(
        "Mode `{mode}`, seed {seed}: {} runs in {:.0} s, {ok} met the promise. \
         Afterwards on the machine (all runs, ours and others'): {machine}.",
        judged.len(),
        elapsed.as_secs_f64()
    );
    println!("\n{header}\n\n{table}");
    if args.record
        && let Err(e) = record(&root, &table, &header)
    {
        eprintln!("faults: writing RELIABILITY.md: {e}");
    }
    if ok == judged.len() && Duration::ZERO < elapsed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
