//! A suite container requested by many threads at once: one container.

use std::sync::{Arc, Barrier};

use fixtures_core::prelude::*;
use fixtures_docker::{Container, Error, WaitFor};

use crate::common::{self, svc};

#[fixture(scope = suite)]
async fn crowd(setup: &Setup) -> Result<Container, Error> {
    let spec = svc()
        .label("test", "crowd")
        .expose(8080)
        .wait_for(WaitFor::http(8080, "/health", 200));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn thirty_two_threads_get_one_suite_container() {
    let barrier = Arc::new(Barrier::new(32));
    let ids: Vec<String> = (0..32)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let c = crowd::fixture().try_lease().expect("starts");
                c.id().to_owned()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let engine_says = common::containers(&[
        format!("org.fixtures.run-id={}", fixtures_core::run_id()),
        "test=crowd".to_owned(),
    ]);
    assert_eq!(engine_says.len(), 1, "{engine_says:?}");
    assert_eq!(engine_says[0].id, ids[0]);
    assert_eq!(engine_says[0].labels["org.fixtures.scope"], "suite");
}

/// The same spec as [`lookalike_suite`], for one test.
#[fixture(scope = test)]
async fn lookalike_test(setup: &Setup) -> Result<Container, Error> {
    fixtures_docker::start(setup, svc().label("test", "lookalike")).await
}

#[fixture(scope = suite)]
async fn lookalike_suite(setup: &Setup) -> Result<Container, Error> {
    fixtures_docker::start(setup, svc().label("test", "lookalike")).await
}

#[test]
fn a_suite_container_does_not_adopt_a_tests_own_of_the_same_spec() {
    let own = lookalike_test::fixture()
        .try_lease()
        .expect("the test's container");
    let suite = lookalike_suite::fixture()
        .try_lease()
        .expect("the suite container");
    assert_ne!(own.id(), suite.id());
    assert!(
        common::exists(own.id()),
        "the test's container was removed under it"
    );
}
