//! One suite container for a whole run of 20 tests, also when each test runs in its own
//! process (nextest): exactly one container during the run, none after it.
//!
//! `t01`…`t20` lease the suite container and record what they got (when
//! `FIXTURES_DOCKER_RECORD` names a file). Under `cargo nextest run` they are the real thing;
//! `a_nextest_style_run_shares_one_container_and_leaves_none` re-runs them the way nextest
//! does — a list phase, then one process per test, 4 at a time, one run id — with a helper
//! process playing nextest's runner (the run's owner), and ends the run by killing it.

#[path = "common/mod.rs"]
mod common;

use std::io::Write;
use std::process::Child;
use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use fixtures_docker::{Container, Error, WaitFor};

use common::{Helper, child, finish, run, svc, text, this_binary};

#[fixture(scope = suite)]
async fn shared_svc(setup: &Setup) -> Result<Container, Error> {
    let spec = svc()
        .label("test", "shared-suite")
        .expose(8080)
        .wait_for(WaitFor::http(8080, "/health", 200));
    fixtures_docker::start(setup, spec).await
}

/// What each of the 20 tests does: lease, use, record.
fn body() {
    let started = Instant::now();
    let c = shared_svc::fixture()
        .try_lease()
        .expect("the suite container");
    let took = started.elapsed();
    assert_eq!(
        common::http_get(&c.address(8080).unwrap(), "/health").0,
        200
    );
    if let Ok(path) = std::env::var("FIXTURES_DOCKER_RECORD") {
        let seen = common::of_run(fixtures_core::run_id()).len();
        let line = format!(
            "{} {} {} {} {seen}\n",
            std::process::id(),
            c.id(),
            c.adopted(),
            took.as_millis()
        );
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(line.as_bytes()).unwrap();
    }
}

macro_rules! shared_tests {
    ($($name:ident)*) => { $( #[test] fn $name() { body() } )* };
}

shared_tests!(t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19 t20);

#[test]
fn a_nextest_style_run_shares_one_container_and_leaves_none() {
    let run_id = format!("emulated-{}", std::process::id());
    let mut runner = Helper::start();
    let record = common::scratch("shared-record");
    let nextest = |name: Option<&str>| {
        let mut cmd = match name {
            Some(test) => child(test),
            None => this_binary(&["--list", "--format", "terse"]),
        };
        cmd.env("NEXTEST", "1")
            .env("NEXTEST_RUN_ID", &run_id)
            .env("NEXTEST_EXECUTION_MODE", "process-per-test")
            .env(
                "NEXTEST_TEST_PHASE",
                if name.is_some() { "run" } else { "list" },
            )
            .env("FIXTURES_RUN_OWNER", runner.process().to_string())
            .env("FIXTURES_DOCKER_RECORD", &record);
        if let Some(test) = name {
            cmd.env("NEXTEST_TEST_NAME", test);
        }
        cmd
    };

    let out = run(nextest(None));
    assert!(out.status.success(), "{}", text(&out));
    let tests: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .filter(|t| t.len() == 3 && t.starts_with('t'))
        .map(str::to_owned)
        .collect();
    assert_eq!(tests.len(), 20, "{tests:?}");
    assert!(
        common::of_run(&run_id).is_empty(),
        "the list phase starts nothing"
    );

    for batch in tests.chunks(4) {
        let children: Vec<Child> = batch
            .iter()
            .map(|t| nextest(Some(t)).spawn().unwrap())
            .collect();
        for c in children {
            let out = finish(c, Duration::from_secs(120));
            assert!(out.status.success(), "{}", text(&out));
        }
        let during = common::of_run(&run_id);
        assert_eq!(during.len(), 1, "between batches: {during:?}");
        assert_eq!(during[0].state, "running");
    }

    let records = std::fs::read_to_string(&record).unwrap();
    let rows: Vec<Vec<&str>> = records.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(rows.len(), 20, "{records}");
    assert!(
        rows.iter().all(|r| r[1] == rows[0][1]),
        "one container for all:\n{records}"
    );
    assert!(
        rows.iter().all(|r| r[4] == "1"),
        "never two at once:\n{records}"
    );
    let created = rows.iter().filter(|r| r[2] == "false").count();
    assert_eq!(created, 1, "created once, adopted 19 times:\n{records}");
    let mut adopt_ms: Vec<u64> = rows
        .iter()
        .filter(|r| r[2] == "true")
        .map(|r| r[3].parse().unwrap())
        .collect();
    adopt_ms.sort_unstable();
    eprintln!(
        "MEASURE shared container: created in {} ms, adopted in {} ms (median of 19)",
        rows.iter().find(|r| r[2] == "false").unwrap()[3],
        adopt_ms[adopt_ms.len() / 2]
    );

    assert_eq!(
        common::of_run(&run_id).len(),
        1,
        "kept while the runner lives"
    );
    runner.kill();
    let ended = Instant::now();
    let gone = common::wait_until(Duration::from_secs(10), || {
        common::of_run(&run_id).is_empty()
    });
    eprintln!(
        "MEASURE runner gone, shared container removed after {:?}",
        ended.elapsed()
    );
    assert!(gone, "the reaper removes it once the run is over");
}
