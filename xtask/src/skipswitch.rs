//! The skip switch from a user's side (issue #15): `consumers/nosqlx`, whose tests are marked
//! `#[needs_services]` (one by one, and a whole inline module), compiled and run with
//! `FIXTURES_SKIP=1`:
//! - under `cargo test` every marked test is reported `ignored` with the switch's reason, none
//!   runs, and the engine sees nothing created meanwhile (its events);
//! - under nextest the same tests are skipped (`NEXTEST_NO_TESTS=pass`: a run of skips only);
//! - the one unmarked test fails, with the error that says to mark it;
//! - with `FIXTURES_REQUIRE_DOCKER=1` as well, a marked test runs and fails, naming both.
//!
//! The crate's normal run (the switch off: every test passes) is `consumer::run_adopters`'.

use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::Result;

const CRATE: &str = "consumers/nosqlx";

/// The switch's reason, as libtest prints it beside an ignored test.
const IGNORED: &str = "ignored, FIXTURES_SKIP is set: this test needs Docker or Postgres";

pub(crate) fn run(env: &[(&'static str, String)]) -> Result {
    let manifest = crate::root().join(CRATE).join("Cargo.toml");
    let manifest = manifest
        .to_str()
        .ok_or("the workspace's path is not UTF-8")?;
    let skip = |args: &[&str]| {
        let mut c = cargo(env, args, manifest);
        c.env("FIXTURES_SKIP", "1");
        c
    };

    // The marked tests (the test targets: the crate's doc example needs no service): listed,
    // then run with the unmarked one left out.
    let (_, listing) = output(&mut skip(&["test", "--tests", "--", "--list"]))?;
    let listed = listing.lines().filter(|l| l.ends_with(": test")).count();
    let since = now();
    let (ok, text) = output(&mut skip(&["test", "--tests", "--", "--skip", "unmarked"]))?;
    let ignored = text.lines().filter(|l| l.contains(IGNORED)).count();
    let ran: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("test ") && (l.ends_with(" ok") || l.ends_with(" FAILED")))
        .collect();
    check(ok, "cargo test with FIXTURES_SKIP=1 failed", &text)?;
    if !ran.is_empty() || ignored + 1 != listed {
        return Err(format!(
            "FIXTURES_SKIP=1: {listed} tests listed, {ignored} reported ignored with the switch's \
             reason (expected all but the unmarked one); these ran: {ran:?}"
        ));
    }
    nothing_created(since, "cargo test with FIXTURES_SKIP=1")?;
    eprintln!("    {ignored} of {listed} tests ignored with the switch's reason, nothing created");

    // nextest: the same tests skipped.
    let since = now();
    let (ok, text) = output(
        skip(&["nextest", "run", "-E", "not test(=unmarked)"]).env("NEXTEST_NO_TESTS", "pass"),
    )?;
    check(ok, "cargo nextest run with FIXTURES_SKIP=1 failed", &text)?;
    let summary = format!("0 tests run: 0 passed, {listed} skipped");
    if !text.contains(&summary) {
        return Err(format!(
            "nextest with FIXTURES_SKIP=1: expected `{summary}`:\n{}",
            tail(&text)
        ));
    }
    nothing_created(since, "cargo nextest run with FIXTURES_SKIP=1")?;

    // The unmarked test fails, and says how to mark it.
    let since = now();
    let (ok, text) = output(&mut skip(&[
        "test",
        "--test",
        "skip_switch",
        "--",
        "--exact",
        "unmarked",
    ]))?;
    expect_failure(
        ok,
        &text,
        "is not marked for the skip switch. Put #[needs_services]",
    )?;
    nothing_created(since, "the unmarked test with FIXTURES_SKIP=1")?;

    // Both switches: the marks ignore nothing, and the first service names the conflict.
    let since = now();
    let (ok, text) = output(
        skip(&[
            "test",
            "--test",
            "skip_switch",
            "--",
            "--exact",
            "marked::through_the_helper",
        ])
        .env("FIXTURES_REQUIRE_DOCKER", "1"),
    )?;
    expect_failure(
        ok,
        &text,
        "FIXTURES_SKIP and FIXTURES_REQUIRE_DOCKER are both set",
    )?;
    nothing_created(since, "FIXTURES_SKIP=1 with FIXTURES_REQUIRE_DOCKER=1")
}

/// `cargo ARGS --manifest-path M` with `env` and neither switch of the caller's environment.
fn cargo(env: &[(&'static str, String)], args: &[&str], manifest: &str) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let (sub, rest) = args.split_at(if args.first() == Some(&"nextest") {
        2
    } else {
        1
    });
    c.args(sub).args(["--manifest-path", manifest]).args(rest);
    c.envs(env.iter().map(|(k, v)| (k, v.as_str())))
        .env_remove("FIXTURES_REQUIRE_DOCKER")
        .env_remove("FIXTURES_SKIP")
        .current_dir(crate::root());
    c
}

/// Runs `cmd`, echoing it; whether it succeeded, and its stdout and stderr.
fn output(cmd: &mut Command) -> Result<(bool, String)> {
    let shown = format!("{cmd:?}").replace('"', "");
    eprintln!("\n==> {shown}");
    let start = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    eprintln!("<== {:.1}s {shown}", start.elapsed().as_secs_f64());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

fn check(ok: bool, what: &str, text: &str) -> Result {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}:\n{}", tail(text)))
    }
}

fn expect_failure(ok: bool, text: &str, message: &str) -> Result {
    if !ok && text.contains(message) {
        eprintln!("    failed as expected: …{message}…");
        Ok(())
    } else {
        Err(format!(
            "expected a failure saying `{message}`, got (success: {ok}):\n{}",
            tail(text)
        ))
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Fails when the engine created anything (container, network, volume) since `since`.
fn nothing_created(since: u64, what: &str) -> Result {
    let until = now() + 1;
    let events = crate::bench::docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "event=create",
    ])?;
    if events.trim().is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{what}: the engine created something meanwhile:\n{events}"
        ))
    }
}
