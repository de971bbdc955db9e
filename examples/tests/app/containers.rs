//! A compose-style suite: a service of our own (the small `testsvc` image) in a container that
//! reaches a Postgres container over a container network, by its alias — as an application
//! container talks to its database. Needs Docker (`cargo xtask demo` skips this module when
//! no engine runs; `cargo xtask test` requires one).

use std::io::{Read, Write};

use fixtures_core::prelude::*;
use fixtures_docker::Image as _;
use fixtures_docker::{Container, ContainerSpec, Network, WaitFor};
use fixtures_postgres::PostgresImage;
use rstest::rstest;

fn svc_image() -> (String, String) {
    let image = std::env::var("FIXTURES_TEST_SVC_IMAGE")
        .unwrap_or_else(|_| "fixtures-local/testsvc:latest".into());
    match image.rsplit_once(':') {
        Some((n, t)) => (n.to_owned(), t.to_owned()),
        None => (image, "latest".into()),
    }
}

/// The suite's private network.
#[fixture(scope = suite)]
async fn app_network(setup: &Setup) -> Result<Network, fixtures_docker::Error> {
    fixtures_docker::network(setup, "examples-app").await
}

/// A Postgres container on that network, reachable from other containers as `db`.
#[fixture(scope = suite)]
async fn database_container(
    app_network: Lease<Network>,
    setup: &Setup,
) -> Result<Container, fixtures_docker::Error> {
    let spec = PostgresImage::from_env("example-only-password".into(), 50)
        .spec()
        .network(app_network.name())
        .alias("db");
    fixtures_docker::start(setup, spec).await
}

/// The application service: ready once it has reached `db:5432` and serves HTTP.
#[fixture(scope = module)]
async fn app_service(
    database_container: Lease<Container>,
    app_network: Lease<Network>,
    setup: &Setup,
) -> Result<Container, fixtures_docker::Error> {
    let _ = &database_container;
    let (name, tag) = svc_image();
    let spec = ContainerSpec::new(name, tag)
        .env("TESTSVC_PROBE_TCP", "db:5432")
        .env("APP_DATABASE_HOST", "db")
        .network(app_network.name())
        .alias("app")
        .expose(8080)
        .wait_for(WaitFor::log_line("probe ok db:5432 tcp"))
        .wait_for(WaitFor::http(8080, "/health", 200));
    fixtures_docker::start(setup, spec).await
}

fn http_get(host: &str, port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect((host, port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[rstest]
#[tokio::test]
async fn the_service_reaches_the_database_by_its_alias(app_service: Lease<Container>) {
    let logs = app_service.logs(50).await.unwrap();
    assert!(logs.contains("probe ok db:5432 tcp"), "{logs}");
}

#[rstest]
fn the_host_reaches_the_service_on_loopback(app_service: Lease<Container>) {
    let port = app_service.host_port(8080).expect("8080 is published");
    let reply = http_get(app_service.host(), port, "/env/APP_DATABASE_HOST");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("db"), "{reply}");
}
