//! Start, reach, inspect and remove; networks; a missing image.

use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use fixtures_docker::{Container, ContainerSpec, Error, Network, WaitFor};

use crate::common::{self, svc};

#[fixture(scope = test)]
async fn web(setup: &Setup) -> Result<Container, Error> {
    let spec = svc()
        .env("GREETING", "hello")
        .expose(8080)
        .wait_for(WaitFor::http(8080, "/health", 200));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn a_container_starts_answers_on_loopback_and_is_removed_at_teardown() {
    let started = Instant::now();
    let web = web::fixture().try_lease().expect("the container starts");
    eprintln!("testsvc ready after {:?}", started.elapsed());
    assert_eq!(web.host(), "127.0.0.1");
    assert!(!web.adopted());
    let addr = web.address(8080).expect("8080 is published");
    assert_eq!(common::http_get(&addr, "/health"), (200, "ok".to_owned()));
    assert_eq!(
        common::http_get(&addr, "/env/GREETING"),
        (200, "hello".to_owned())
    );
    assert_eq!(
        common::host_ips(web.id(), 8080),
        ["127.0.0.1"],
        "published on loopback only"
    );

    let labels = common::labels_of(web.id());
    let me = fixtures_core::watchdog::ProcessRef::current().to_string();
    assert_eq!(labels["org.fixtures.managed-by"], "fixtures");
    assert_eq!(labels["org.fixtures.scope"], "test");
    assert_eq!(labels["org.fixtures.owner"], me);
    assert_eq!(
        labels["org.fixtures.run-owner"],
        fixtures_core::watchdog::run_owner().to_string()
    );
    assert_eq!(labels["org.fixtures.fixture"], "web");
    let created: u64 = labels["org.fixtures.created-at"].parse().unwrap();
    let expires: u64 = labels["org.fixtures.expires-at"].parse().unwrap();
    assert_eq!(expires - created, 24 * 3600);
    assert_eq!(labels["org.fixtures.spec-hash"].len(), 64);
    for key in ["org.fixtures.machine", "org.fixtures.boot"] {
        assert!(!labels[key].is_empty(), "{key}");
    }

    let logs = common::block_on(web.logs(20)).unwrap();
    assert!(logs.contains("testsvc ready on port 8080"), "{logs}");

    let id = web.id().to_owned();
    drop(web);
    assert!(!common::exists(&id), "removed at the test's teardown");
}

#[fixture(scope = test)]
async fn missing_image(setup: &Setup) -> Result<Container, Error> {
    let spec = ContainerSpec::from_env(
        "FIXTURES_TEST_MISSING_IMAGE",
        "fixtures-local/no-such-image:never",
    );
    fixtures_docker::start(setup, spec).await
}

#[test]
fn a_missing_image_that_cannot_be_pulled_says_how_to_get_it() {
    let started = Instant::now();
    let err = missing_image::fixture()
        .try_lease()
        .expect_err("no registry here")
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    for part in [
        "fixtures-local/no-such-image:never",
        "could not be pulled",
        "docker build",
        "docker load",
        "FIXTURES_TEST_MISSING_IMAGE",
    ] {
        assert!(err.contains(part), "`{part}` missing from:\n{err}");
    }
    // Only what exists in the user's project and environment: no path of this repository.
    assert!(!err.contains("scripts/"), "{err}");
}

#[fixture(scope = test)]
async fn lan(setup: &Setup) -> Result<Network, Error> {
    fixtures_docker::network(setup, "lan").await
}

#[fixture(scope = test)]
async fn svc_a(setup: &Setup, lan: Lease<Network>) -> Result<Container, Error> {
    let spec = svc()
        .network(lan.name())
        .alias("svc-a")
        .wait_for(WaitFor::log_line("testsvc ready on port 8080"));
    fixtures_docker::start(setup, spec).await
}

#[fixture(scope = test)]
async fn svc_b(
    setup: &Setup,
    lan: Lease<Network>,
    svc_a: Lease<Container>,
) -> Result<Container, Error> {
    let _ = &svc_a;
    let spec = svc()
        .env("TESTSVC_PROBE", "svc-a:8080")
        .network(lan.name())
        .wait_for(WaitFor::log_line("probe ok svc-a:8080"));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn containers_on_one_network_reach_each_other_by_alias() {
    let b = svc_b::fixture().try_lease().expect("b reaches a");
    let logs = common::block_on(b.logs(20)).unwrap();
    assert!(logs.contains("probe ok svc-a:8080 status=200"), "{logs}");
    let ours = [format!("org.fixtures.run-id={}", fixtures_core::run_id())];
    let nets: Vec<String> = common::networks(&ours)
        .into_iter()
        .filter(|n| n.starts_with("fx-lan-"))
        .collect();
    assert_eq!(nets.len(), 1, "{nets:?}");
    drop(b);
    let left: Vec<String> = common::networks(&ours)
        .into_iter()
        .filter(|n| nets.contains(n))
        .collect();
    assert!(
        left.is_empty(),
        "the network is removed after its containers: {left:?}"
    );
}

#[fixture(scope = test)]
async fn unexposed(setup: &Setup) -> Result<Container, Error> {
    fixtures_docker::start(setup, svc().wait_for(WaitFor::tcp(8080))).await
}

#[test]
fn a_probe_of_an_unexposed_port_is_refused_before_anything_starts() {
    let err = unexposed::fixture()
        .try_lease()
        .expect_err("invalid")
        .to_string();
    assert!(err.contains("add `.expose(8080)`"), "{err}");
    assert!(
        crate::common::of_run(fixtures_core::run_id())
            .iter()
            .all(|c| c.labels.get("org.fixtures.fixture").map(String::as_str) != Some("unexposed"))
    );
}

#[rstest::rstest]
fn fixtures_are_injected_by_rstest(web: Lease<Container>) {
    assert_eq!(
        common::http_get(&web.address(8080).unwrap(), "/health").0,
        200
    );
}

#[rstest::rstest]
#[tokio::test]
async fn a_container_is_usable_from_a_tests_own_runtime(web: Lease<Container>) {
    let logs = web.logs(5).await.unwrap();
    assert!(logs.contains("testsvc ready"), "{logs}");
    let (code, _) = web
        .exec(["/testsvc-missing"])
        .await
        .map_or((-1, String::new()), |r| r);
    assert_ne!(code, 0, "a command that cannot run is reported, not hidden");
}

#[rstest::rstest]
#[tokio::test]
async fn a_local_engines_container_is_reached_at_its_own_address_too(web: Lease<Container>) {
    let direct = web
        .direct_address(8080)
        .await
        .expect("a local engine's container answers at its own address");
    let published = web.address(8080).unwrap();
    assert_ne!(direct.to_string(), published, "not the published port");
    assert!(web.info().network_ips().contains(&direct.ip().to_string()));
    let (code, body) =
        tokio::task::spawn_blocking(move || common::http_get(&direct.to_string(), "/health"))
            .await
            .unwrap();
    assert_eq!(code, 200, "{body}");
    // A port nothing listens on is not offered.
    assert_eq!(web.direct_address(8081).await, None);
}
