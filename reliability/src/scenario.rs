//! The fault scenarios: what is done to a run, under which runner, on which backend — and how
//! one such run is judged.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::leftovers::Leftovers;
use crate::rng::Rng;
use crate::run::{RunOutcome, Trigger, run_and_signal};

/// The test runner a scenario runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The libtest binary `cargo test` runs (started directly, as `cargo test` does).
    Cargo,
    /// `cargo nextest run` (one process per test).
    Nextest,
}

impl Runner {
    /// `cargo test` or `nextest`.
    pub fn name(self) -> &'static str {
        match self {
            Runner::Cargo => "cargo test",
            Runner::Nextest => "nextest",
        }
    }
}

/// The Postgres backend a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A container of `FIXTURES_POSTGRES_IMAGE`.
    Docker,
    /// The machine's Postgres binaries, data on tmpfs.
    Local,
}

impl Backend {
    /// `docker` or `local`: the value of `FIXTURES_PG_BACKEND`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Docker => "docker",
            Backend::Local => "local",
        }
    }
}

/// A phase of a run, recognised by a line of the framework's log (`FIXTURES_LOG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Backend chosen, image being inspected (Docker) or binaries found (local).
    ImageCheck,
    /// The Postgres container has been created, not yet started.
    ContainerStart,
    /// The container runs; readiness is being waited for.
    Readiness,
    /// The server answers; migrations are being applied to the template.
    Migrations,
    /// The template is built; clones are being made.
    TemplateClone,
    /// A test body runs (its fresh database was just handed out).
    TestBody,
    /// A shared database was just set up: cleans between tests follow.
    Clean,
    /// The process is running its finalizers at exit.
    Teardown,
    /// A random moment in the first seconds of the run.
    Random,
}

impl Phase {
    /// Every phase, in the order a run meets them.
    pub const ALL: [Phase; 9] = [
        Phase::ImageCheck,
        Phase::ContainerStart,
        Phase::Readiness,
        Phase::Migrations,
        Phase::TemplateClone,
        Phase::TestBody,
        Phase::Clean,
        Phase::Teardown,
        Phase::Random,
    ];

    /// A short name (`--only` accepts it).
    pub fn name(self) -> &'static str {
        match self {
            Phase::ImageCheck => "image-check",
            Phase::ContainerStart => "container-start",
            Phase::Readiness => "readiness",
            Phase::Migrations => "migrations",
            Phase::TemplateClone => "template-clone",
            Phase::TestBody => "test-body",
            Phase::Clean => "clean",
            Phase::Teardown => "teardown",
            Phase::Random => "random",
        }
    }

    /// The log line that marks the phase on `backend`; `None` when the phase does not exist
    /// there (a local server has no container) or has no marker ([`Phase::Random`]).
    pub fn needle(self, backend: Backend) -> Option<&'static str> {
        match (self, backend) {
            (Phase::ImageCheck, _) => Some("selected the Postgres backend"),
            (Phase::ContainerStart, Backend::Docker) => Some("container created"),
            (Phase::Readiness, Backend::Docker) => Some("container started"),
            (Phase::Migrations, Backend::Docker) => Some("Postgres container"),
            (Phase::Migrations, Backend::Local) => Some("local Postgres server"),
            (Phase::TemplateClone, _) => Some("template built"),
            (Phase::TestBody, _) => Some("fresh database"),
            (Phase::Clean, _) => Some("shared database"),
            (Phase::Teardown, _) => Some("running finalizer"),
            _ => None,
        }
    }
}

/// What is done to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A signal sent to the run's process group at a phase.
    Signal {
        /// `SIGINT`, `SIGTERM` or `SIGKILL`.
        signal: i32,
        /// When.
        phase: Phase,
    },
    /// A test of `reliability/tests/victims.rs` that ends badly by itself.
    Victim(Victim),
    /// nextest's own timeout: SIGTERM, a grace period (0 s: SIGKILL right after), SIGKILL.
    NextestTimeout {
        /// The grace period in seconds.
        grace_secs: u32,
    },
    /// `DOCKER_HOST` points at nothing: the run must fail fast, with a clear error.
    EngineUnreachable,
    /// The whole run SIGKILLed at once at a phase, its watchdogs included (a CI job
    /// cancelled): no process of ours is left to clean up, so its servers must go by
    /// themselves.
    WholeRun {
        /// When.
        phase: Phase,
    },
}

/// The victims' ways of ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victim {
    /// `panic!` in the test body.
    Panics,
    /// `std::process::exit(3)` in the test body.
    Exits,
    /// `std::process::abort()` in the test body.
    Aborts,
}

impl Victim {
    /// The test's name in `victims.rs`.
    pub fn test(self) -> &'static str {
        match self {
            Victim::Panics => "panics",
            Victim::Exits => "exits",
            Victim::Aborts => "aborts",
        }
    }
}

/// Signal names.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGKILL => "SIGKILL",
        libc::SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

impl Fault {
    /// A stable name: `SIGTERM@migrations`, `panic`, `nextest-timeout(grace 2s)`, ...
    pub fn name(&self) -> String {
        match self {
            Fault::Signal { signal, phase } => format!("{}@{}", signal_name(*signal), phase.name()),
            Fault::Victim(v) => format!("test {}", v.test()),
            Fault::NextestTimeout { grace_secs } => {
                format!("nextest timeout (grace {grace_secs}s)")
            }
            Fault::EngineUnreachable => "engine unreachable".into(),
            Fault::WholeRun { phase } => format!("SIGKILL-whole@{}", phase.name()),
        }
    }
}

/// One scenario: a fault, a runner, a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// What is done.
    pub fault: Fault,
    /// Under which runner.
    pub runner: Runner,
    /// On which backend.
    pub backend: Backend,
}

impl Scenario {
    /// Whether the combination makes sense (a container phase on the local backend does not).
    pub fn applies(&self) -> bool {
        match self.fault {
            Fault::Signal { phase, .. } | Fault::WholeRun { phase } => {
                phase == Phase::Random || phase.needle(self.backend).is_some()
            }
            Fault::NextestTimeout { .. } => self.runner == Runner::Nextest,
            Fault::EngineUnreachable => self.backend == Backend::Docker,
            Fault::Victim(_) => true,
        }
    }
}

/// Where the test binaries are, and the settings every run gets.
#[derive(Debug, Clone)]
pub struct Env {
    /// The workspace root.
    pub root: PathBuf,
    /// The examples' test binary (`examples/tests/app`).
    pub app_bin: PathBuf,
    /// The victims' test binary (`reliability/tests/victims.rs`).
    pub victims_bin: PathBuf,
}

/// The verdict on one run.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The scenario.
    pub scenario: Scenario,
    /// The run id (`FIXTURES_RUN_ID`).
    pub run_id: String,
    /// How the faulted run ended.
    pub outcome: RunOutcome,
    /// What was left 10 s after it ended.
    pub after_wait: Leftovers,
    /// How long it took to reach [`Judged::after_wait`].
    pub settle: Duration,
    /// What was left of it after the next run (its start-up sweep).
    pub after_next: Leftovers,
    /// Whether the next run passed.
    pub next_passed: bool,
    /// Whether the fault happened (a signal: sent at its phase before the run ended).
    pub delivered: bool,
    /// Scenario-specific check (e.g. the error names the engine); `None` when none applies.
    pub check: Option<(bool, String)>,
}

impl Judged {
    /// Whether the run met the promise: nothing left (after the wait, or at the latest after
    /// the next run's sweep), the next run passed, the scenario's own check held.
    pub fn ok(&self) -> bool {
        self.after_next.total() == 0
            && self.next_passed
            && self.outcome.status.is_some()
            && self.check.as_ref().is_none_or(|(ok, _)| *ok)
    }
}

fn base_command(env: &Env, scenario: &Scenario, run_id: &str, filter: AppFilter) -> Command {
    let mut cmd = match (scenario.runner, filter) {
        (Runner::Cargo, AppFilter::Victim(test)) => {
            let mut c = Command::new(&env.victims_bin);
            c.args(["--ignored", "--exact", test]);
            c
        }
        (Runner::Cargo, app) => {
            let mut c = Command::new(&env.app_bin);
            c.args(["--test-threads", "4"]);
            app.cargo_args(&mut c, scenario.backend);
            c
        }
        (Runner::Nextest, filter) => {
            let mut c = Command::new("cargo");
            c.args(["nextest", "run", "--no-fail-fast", "--hide-progress-bar"]);
            // The phase is seen in the tests' live stderr: nextest shows it only uncaptured
            // (which also runs the tests one at a time, each still in its own process).
            c.args(["--cargo-quiet", "--no-capture"]);
            match filter {
                AppFilter::Victim(test) => {
                    c.args([
                        "-p",
                        "reliability",
                        "--test",
                        "victims",
                        "--run-ignored",
                        "only",
                    ]);
                    c.args(["-E", &format!("test(={test})")]);
                    if let Fault::NextestTimeout { grace_secs } = scenario.fault {
                        c.arg("--config-file")
                            .arg(env.root.join("reliability/nextest.toml"));
                        c.args(["--profile", &format!("timeout-grace-{grace_secs}")]);
                    }
                }
                app => {
                    c.args(["-p", "examples", "--test", "app"]);
                    app.nextest_args(&mut c, scenario.backend);
                }
            }
            c
        }
    };
    cmd.current_dir(env.root.join("examples"))
        .env("FIXTURES_RUN_ID", run_id)
        .env(
            "FIXTURES_LOG",
            "info,fixtures_postgres=debug,fixtures_core=debug",
        )
        .env("FIXTURES_PG_BACKEND", scenario.backend.name())
        .env_remove("FIXTURES_PG_URL")
        .env("NO_COLOR", "1");
    for (var, default) in [
        ("FIXTURES_POSTGRES_IMAGE", "fixtures-local/postgres:15"),
        ("FIXTURES_TEST_SVC_IMAGE", "fixtures-local/testsvc:latest"),
    ] {
        if std::env::var_os(var).is_none() {
            cmd.env(var, default);
        }
    }
    cmd
}

/// Which tests a run selects.
#[derive(Debug, Clone, Copy)]
enum AppFilter {
    /// The whole examples suite (without the compose module on the local backend).
    Suite,
    /// Three tests, one per scope: the "next run passes" check.
    Next,
    /// One victim.
    Victim(&'static str),
}

impl AppFilter {
    fn cargo_args(self, c: &mut Command, backend: Backend) {
        match self {
            AppFilter::Next => {
                c.arg("identities_start_at_one");
            }
            AppFilter::Suite if backend == Backend::Local => {
                c.args(["--skip", "containers"]);
            }
            _ => {}
        }
    }

    fn nextest_args(self, c: &mut Command, backend: Backend) {
        match self {
            AppFilter::Next => {
                c.args(["-E", "test(identities_start_at_one)"]);
            }
            AppFilter::Suite if backend == Backend::Local => {
                c.args(["-E", "not test(/^containers::/)"]);
            }
            _ => {}
        }
    }
}

/// Runs one scenario once and judges it.
///
/// # Errors
///
/// When a process cannot be started.
pub fn execute(
    env: &Env,
    scenario: &Scenario,
    run_id: &str,
    rng: &mut Rng,
) -> std::io::Result<Judged> {
    let limit = Duration::from_secs(120);
    let at_phase = |phase: Phase, rng: &mut Rng| match phase.needle(scenario.backend) {
        Some(needle) => Trigger::Phase {
            needle: needle.into(),
            delay: Duration::from_millis(rng.below(40)),
        },
        None => Trigger::After(Duration::from_millis(rng.below(6000))),
    };
    let (filter, trigger, signal) = match scenario.fault {
        Fault::Signal { signal, phase } => (AppFilter::Suite, at_phase(phase, rng), signal),
        Fault::WholeRun { phase } => (AppFilter::Suite, at_phase(phase, rng), libc::SIGKILL),

        Fault::Victim(v) => (AppFilter::Victim(v.test()), Trigger::Never, 0),
        Fault::NextestTimeout { .. } => (AppFilter::Victim("hangs"), Trigger::Never, 0),
        Fault::EngineUnreachable => (AppFilter::Next, Trigger::Never, 0),
    };
    let mut cmd = base_command(env, scenario, run_id, filter);
    if scenario.fault == Fault::EngineUnreachable {
        cmd.env("DOCKER_HOST", "tcp://127.0.0.1:9");
    }
    let whole_run = matches!(scenario.fault, Fault::WholeRun { .. }).then_some(run_id);
    let outcome = run_and_signal(cmd, &trigger, signal, limit, whole_run)?;
    let (after_wait, settle) = Leftovers::settle(run_id, Duration::from_secs(10));

    let check = match scenario.fault {
        Fault::EngineUnreachable => {
            let text = &outcome.text;
            let named = text.contains("127.0.0.1:9") && text.contains("DOCKER_HOST");
            let fast = outcome.elapsed < Duration::from_secs(15);
            Some((
                named && fast && !outcome.passed(),
                format!(
                    "failed in {:.1}s; error names DOCKER_HOST and the address: {named}",
                    outcome.elapsed.as_secs_f64()
                ),
            ))
        }
        Fault::WholeRun { .. } => {
            // Nothing of the run can remove its folder of notes (the next run's sweep does);
            // everything else must have gone by itself.
            let w = &after_wait;
            let servers =
                w.containers.len() + w.networks.len() + w.servers.len() + w.data_dirs.len();
            let left = servers + w.processes.len();
            Some((
                left == 0,
                format!(
                    "{left} containers, networks, servers, data directories or processes left \
                     10 s after the kill (settled in {:.1}s)",
                    settle.as_secs_f64()
                ),
            ))
        }
        _ => None,
    };

    // The next run: same backend, a fresh run id, three tests (one per scope).
    let next_id = format!("{run_id}n");
    let next_scenario = Scenario {
        runner: Runner::Cargo,
        ..*scenario
    };
    let next = base_command(env, &next_scenario, &next_id, AppFilter::Next);
    let next_outcome = run_and_signal(next, &Trigger::Never, 0, limit, None)?;
    let (next_left, _) = Leftovers::settle(&next_id, Duration::from_secs(10));
    let after_next = Leftovers::of_run(run_id);
    let delivered = !matches!(
        scenario.fault,
        Fault::Signal { .. } | Fault::WholeRun { .. }
    ) || outcome.signalled;
    Ok(Judged {
        scenario: *scenario,
        run_id: run_id.to_owned(),
        outcome,
        after_wait,
        settle,
        after_next,
        next_passed: next_outcome.passed() && next_left.total() == 0,
        delivered,
        check,
    })
}
