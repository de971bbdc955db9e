//! Checks that need no child process.

use std::sync::Arc;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use fixtures_core::{Error, Fixture};

static STAMPEDE_SETUPS: AtomicUsize = AtomicUsize::new(0);

#[fixture(scope = suite)]
fn stampede() -> usize {
    std::thread::sleep(Duration::from_millis(100));
    STAMPEDE_SETUPS.fetch_add(1, Ordering::SeqCst) + 1
}

#[test]
fn sixty_four_threads_asking_at_once_get_one_setup() {
    let barrier = Arc::new(Barrier::new(64));
    let handles: Vec<_> = (0..64)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let lease = stampede();
                (*lease, &*lease as *const usize as usize)
            })
        })
        .collect();
    let results: Vec<(usize, usize)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(STAMPEDE_SETUPS.load(Ordering::SeqCst), 1);
    assert!(
        results.iter().all(|r| *r == results[0]),
        "all share one instance"
    );
    assert_eq!(stampede::fixture().meta().stats().setups, 1);
}

static FAILING_SETUPS: AtomicUsize = AtomicUsize::new(0);

#[fixture(scope = suite)]
fn failing() -> Result<u32, std::io::Error> {
    FAILING_SETUPS.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    Err(std::io::Error::other("the database said no"))
}

#[test]
fn a_setup_error_is_remembered_and_returned_at_once() {
    let first = failing::fixture().try_lease().expect_err("setup fails");
    let start = Instant::now();
    let second = failing::fixture().try_lease().expect_err("still failing");
    assert!(
        start.elapsed() < Duration::from_millis(50),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(FAILING_SETUPS.load(Ordering::SeqCst), 1);
    let text = second.to_string();
    assert_eq!(text, first.to_string());
    assert!(
        text.contains("ERROR at setup of fixture `failing` (suite scope"),
        "{text}"
    );
    assert!(text.contains("caused by: the database said no"), "{text}");
    assert!(text.contains("hint:"), "{text}");
    let Error::Setup(e) = second else {
        panic!("not a setup error: {second:?}")
    };
    assert_eq!(e.fixture(), "failing");
    assert_eq!(e.scope(), Scope::Suite);
}

#[fixture(scope = test)]
fn short_lived() -> u8 {
    1
}

#[fixture(scope = suite)]
fn outlives_its_dependency(short_lived: Lease<u8>) -> u8 {
    *short_lived
}

#[test]
fn a_fixture_cannot_depend_on_a_shorter_scope() {
    let err = outlives_its_dependency::fixture()
        .try_lease()
        .expect_err("scope mismatch");
    let text = err.to_string();
    assert!(
        text.contains(
            "`outlives_its_dependency` (suite scope) depends on `short_lived` (test scope)"
        ),
        "{text}"
    );
}

#[fixture(scope = suite)]
fn panicking_setup() -> u8 {
    panic!("setup exploded")
}

#[test]
fn a_panicking_setup_becomes_a_setup_error() {
    let err = panicking_setup::fixture().try_lease().expect_err("panics");
    assert!(
        err.to_string()
            .contains("the setup panicked: setup exploded"),
        "{err}"
    );
}

#[fixture(scope = suite)]
async fn async_value() -> String {
    tokio::time::sleep(Duration::from_millis(5)).await;
    "from the background runtime".to_owned()
}

#[tokio::test]
async fn async_tests_lease_without_blocking_and_share_the_instance() {
    let a = async_value::fixture().lease_async().await.unwrap();
    let b = async_value();
    assert_eq!(*a, "from the background runtime");
    assert!(std::ptr::eq(&*a, &*b));
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Lease<String>>();
    check::<Fixture<String>>();
    check::<Error>();
    check::<fixtures_core::SetupError>();
    check::<Setup>();
}
