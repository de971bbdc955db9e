//! Tests that end badly, run by `check` in child processes (ignored in normal runs).

use std::time::Duration;

use fixtures_core::Hinted;
use fixtures_core::prelude::*;
use rstest::rstest;

use crate::markers::{Marked, mark};
use crate::scenario::{module_res, suite_res, test_res};

/// Marks, at teardown, whether its test failed (as keep-on-failure needs to know).
#[fixture(scope = test)]
pub fn failure_watch(setup: &Setup) -> String {
    let test = setup.test().expect("a test").to_owned();
    let watched = test.clone();
    setup.on_teardown("failure watch", move || {
        let verdict = if fixtures_core::test_failed(&test) {
            "failed"
        } else {
            "passed"
        };
        mark("verdict", verdict, &test);
    });
    watched
}

#[rstest]
#[ignore = "run by check::teardown_runs_after_a_panicking_test"]
fn panics(
    suite_res: Lease<Marked>,
    module_res: Lease<Marked>,
    test_res: Lease<Marked>,
    failure_watch: Lease<String>,
) {
    let _ = (&suite_res, &module_res, &test_res, &failure_watch);
    mark("test", "faults::panics", "");
    panic!("this test fails on purpose");
}

#[rstest]
#[ignore = "run by check::teardown_runs_after_a_panicking_test"]
fn passes(failure_watch: Lease<String>) {
    let _ = &failure_watch;
}

#[rstest]
#[ignore = "run by check::teardown_runs_after_process_exit"]
fn exits(suite_res: Lease<Marked>, module_res: Lease<Marked>, test_res: Lease<Marked>) {
    let _ = (&suite_res, &module_res, &test_res);
    mark("test", "faults::exits", "");
    std::process::exit(3);
}

#[rstest]
#[ignore = "run by check::teardown_runs_after_signals"]
#[tokio::test]
async fn waits_for_a_signal(
    suite_res: Lease<Marked>,
    module_res: Lease<Marked>,
    test_res: Lease<Marked>,
) {
    let _ = (&suite_res, &module_res, &test_res);
    mark("test", "faults::waits_for_a_signal", "");
    tokio::time::sleep(Duration::from_secs(60)).await;
    panic!("no signal came within 60 s");
}

/// A module fixture whose setup fails slowly.
#[fixture(scope = module)]
pub fn broken(setup: &Setup) -> Result<Marked, Hinted> {
    mark("setup-attempt", "broken", setup.instance());
    std::thread::sleep(Duration::from_millis(300));
    let cause = std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "connection refused (os error 111)",
    );
    Err(Hinted::new(
        Box::new(std::io::Error::other(format!(
            "cannot reach the service: {cause}"
        ))),
        "start the service, or point SERVICE_URL at one",
    ))
}

pub mod broken_setup {
    use super::*;

    #[rstest]
    #[ignore = "run by check::a_failing_setup_is_reported_and_remembered"]
    fn first(broken: Lease<Marked>) {
        let _ = broken;
    }

    #[rstest]
    #[ignore = "run by check::a_failing_setup_is_reported_and_remembered"]
    fn second(broken: Lease<Marked>) {
        let _ = broken;
    }
}
