//! Each readiness condition, the deadline with its log tail, and an early exit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use fixtures_docker::{Container, ContainerInfo, Error, WaitFor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{self, pg, svc};

const READY: &str = "testsvc ready on port 8080";

fn no_container_left(fixture: &str) -> bool {
    common::of_run(fixtures_core::run_id())
        .iter()
        .all(|c| c.labels.get("org.fixtures.fixture").map(String::as_str) != Some(fixture))
}

#[fixture(scope = test)]
async fn thrice(setup: &Setup) -> Result<Container, Error> {
    let spec = svc()
        .env("TESTSVC_LOG_REPEAT", "3")
        .wait_for(WaitFor::log_line_times(READY, 3));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn a_log_line_is_counted() {
    let c = thrice::fixture().try_lease().expect("three lines");
    let logs = common::block_on(c.logs(50)).unwrap();
    assert_eq!(logs.matches(READY).count(), 3, "{logs}");
}

#[fixture(scope = test)]
async fn four_of_three(setup: &Setup) -> Result<Container, Error> {
    let spec = svc()
        .env("TESTSVC_LOG_REPEAT", "3")
        .wait_for(WaitFor::log_line_times(READY, 4))
        .startup_timeout(Duration::from_secs(2));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn a_log_line_seen_too_few_times_is_not_ready() {
    let err = four_of_three::fixture()
        .try_lease()
        .expect_err("only 3")
        .to_string();
    assert!(err.contains("seen 3 of 4 times"), "{err}");
    assert!(no_container_left("four_of_three"));
}

#[fixture(scope = test)]
async fn late_listener(setup: &Setup) -> Result<Container, Error> {
    let spec = svc()
        .env("TESTSVC_READY_DELAY_MS", "1500")
        .expose(8080)
        .wait_for(WaitFor::tcp(8080));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn tcp_readiness_waits_for_the_service_behind_the_port_proxy() {
    let started = Instant::now();
    let c = late_listener::fixture().try_lease().expect("listens");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // Ready means reachable: the very next request is served.
    let addr = c.address(8080).unwrap();
    assert_eq!(common::http_get(&addr, "/health").0, 200);
}

#[fixture(scope = test)]
async fn http_ready(setup: &Setup) -> Result<Container, Error> {
    let spec = svc()
        .env("TESTSVC_READY_DELAY_MS", "700")
        .expose(8080)
        .wait_for(WaitFor::http(8080, "/health", 200))
        .wait_for(WaitFor::http(8080, "/status/204", 204));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn http_readiness_checks_the_status() {
    let c = http_ready::fixture().try_lease().expect("answers");
    assert_eq!(
        common::http_get(&c.address(8080).unwrap(), "/status/204").0,
        204
    );
}

static CUSTOM_CALLS: AtomicUsize = AtomicUsize::new(0);

async fn env_value(info: ContainerInfo, name: &str) -> Result<String, String> {
    let addr = info.address(8080).ok_or("8080 is not published")?;
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| e.to_string())?;
    let req = format!("GET /env/{name} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .await
        .map_err(|e| e.to_string())?;
    Ok(out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default())
}

#[fixture(scope = test)]
async fn custom_ready(setup: &Setup) -> Result<Container, Error> {
    let spec = svc()
        .env("MARK", "custom")
        .expose(8080)
        .wait_for(WaitFor::custom(
            "third time lucky",
            |info: ContainerInfo| async move {
                let n = CUSTOM_CALLS.fetch_add(1, Ordering::SeqCst) + 1;
                if n < 3 {
                    return Err(format!("attempt {n} refused on purpose"));
                }
                match env_value(info, "MARK").await? {
                    v if v == "custom" => Ok(()),
                    other => Err(format!("MARK is {other:?}")),
                }
            },
        ));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn a_custom_probe_is_polled_until_it_passes() {
    let _c = custom_ready::fixture()
        .try_lease()
        .expect("passes on the third call");
    assert!(CUSTOM_CALLS.load(Ordering::SeqCst) >= 3);
}

static HELD_CALLS: AtomicUsize = AtomicUsize::new(0);

/// A log line first, a probe after it: the probe runs once the line is there, not before.
#[fixture(scope = test)]
async fn line_then_probe(setup: &Setup) -> Result<Container, Error> {
    let spec = svc()
        .env("TESTSVC_READY_DELAY_MS", "700")
        .env("MARK", "held")
        .expose(8080)
        .wait_for(WaitFor::log_line(READY))
        .wait_for(WaitFor::custom(
            "counted",
            |info: ContainerInfo| async move {
                HELD_CALLS.fetch_add(1, Ordering::SeqCst);
                env_value(info, "MARK").await.map(drop)
            },
        ));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn a_log_line_holds_back_the_probes_after_it() {
    let _c = line_then_probe::fixture().try_lease().expect("ready");
    assert_eq!(
        HELD_CALLS.load(Ordering::SeqCst),
        1,
        "the probe ran before the service said it listens"
    );
}

#[fixture(scope = test)]
async fn pg_exec(setup: &Setup) -> Result<Container, Error> {
    let spec = pg()
        .env("POSTGRES_PASSWORD", "secret")
        .cmd(["-c", "fsync=off"])
        .tmpfs("/var/lib/postgresql/data", "rw")
        .expose(5432)
        .wait_for(WaitFor::exec([
            "pg_isready",
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
        ]));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn exec_readiness_runs_a_command_in_the_container() {
    let started = Instant::now();
    let c = pg_exec::fixture().try_lease().expect("postgres starts");
    eprintln!(
        "MEASURE postgres cold, exec pg_isready: {:?}",
        started.elapsed()
    );
    let (code, out) =
        common::block_on(c.exec(["psql", "-U", "postgres", "-tAc", "SELECT 40 + 2"])).unwrap();
    assert_eq!((code, out.trim()), (0, "42"));
    let (code, _) = common::block_on(c.exec(["false"])).unwrap();
    assert_eq!(code, 1, "a failing command is a result, not an error");
}

#[fixture(scope = test)]
async fn pg_log(setup: &Setup) -> Result<Container, Error> {
    let spec = pg()
        .env("POSTGRES_PASSWORD", "secret")
        .cmd(["-c", "fsync=off"])
        .tmpfs("/var/lib/postgresql/data", "rw")
        .expose(5432)
        .wait_for(WaitFor::log_line_times(
            "database system is ready to accept connections",
            2,
        ))
        .wait_for(WaitFor::tcp(5432));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn postgres_is_ready_after_its_second_ready_line() {
    let started = Instant::now();
    let c = pg_log::fixture().try_lease().expect("postgres starts");
    eprintln!(
        "MEASURE postgres cold, log line x2 + tcp: {:?}",
        started.elapsed()
    );
    let (code, out) = common::block_on(c.exec(["pg_isready", "-h", "127.0.0.1"])).unwrap();
    assert_eq!(code, 0, "{out}");
}

#[fixture(scope = test)]
async fn slow(setup: &Setup) -> Result<Container, Error> {
    let spec = svc()
        .env("TESTSVC_READY_DELAY_MS", "600000")
        .expose(8080)
        .wait_for(WaitFor::http(8080, "/health", 200))
        .startup_timeout(Duration::from_secs(2));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn a_deadline_reports_the_last_probe_error_and_the_log_tail() {
    let started = Instant::now();
    let err = slow::fixture()
        .try_lease()
        .expect_err("never ready")
        .to_string();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(err.contains("was not ready within 2s"), "{err}");
    assert!(
        err.contains("last probe error: http GET :8080/health"),
        "{err}"
    );
    assert!(
        err.contains("testsvc starting"),
        "the log tail is shown:\n{err}"
    );
    assert!(no_container_left("slow"), "removed after the failed start");
}

#[fixture(scope = test)]
async fn crashing(setup: &Setup) -> Result<Container, Error> {
    let spec = svc()
        .env("TESTSVC_EXIT_AFTER_MS", "0")
        .env("TESTSVC_EXIT_CODE", "7")
        .expose(8080)
        .wait_for(WaitFor::http(8080, "/health", 200))
        .startup_timeout(Duration::from_secs(60));
    fixtures_docker::start(setup, spec).await
}

#[test]
fn an_early_exit_is_reported_at_once_with_code_and_logs() {
    let started = Instant::now();
    let err = crashing::fixture()
        .try_lease()
        .expect_err("exits")
        .to_string();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "not after the 60 s deadline: {took:?}"
    );
    assert!(
        err.contains("exited with code 7 before it was ready"),
        "{err}"
    );
    assert!(err.contains("testsvc exiting with code 7"), "{err}");
    assert!(no_container_left("crashing"));
}
