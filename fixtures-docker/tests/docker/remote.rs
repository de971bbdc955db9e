//! An unreachable engine and an engine over TCP, each in a child process (the engine
//! client is remembered per process). The `child_*` tests are ignored in normal runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use fixtures_core::prelude::*;
use fixtures_docker::{Container, Error};

use crate::common::{self, child, line, run, text, web_spec};

// ----------------------------------------------------------------- unreachable engine --

#[fixture(scope = test)]
async fn nowhere_a(setup: &Setup) -> Result<Container, Error> {
    fixtures_docker::start(setup, web_spec()).await
}

#[fixture(scope = test)]
async fn nowhere_b(setup: &Setup) -> Result<Container, Error> {
    fixtures_docker::start(setup, web_spec()).await
}

#[test]
#[ignore = "run by remote::an_unreachable_engine_fails_fast_with_one_clear_error"]
fn child_meets_an_unreachable_engine() {
    let t = Instant::now();
    let first = nowhere_a::fixture()
        .try_lease()
        .expect_err("no engine")
        .to_string();
    println!("FIRST_MS={}", t.elapsed().as_millis());
    let t = Instant::now();
    let _ = nowhere_b::fixture().try_lease().expect_err("no engine");
    println!("SECOND_MS={}", t.elapsed().as_millis());
    println!("ERROR={}", first.replace('\n', " | "));
}

#[test]
fn an_unreachable_engine_fails_fast_with_one_clear_error() {
    // Accepts connections (in its backlog) and never answers: only the ping deadline helps.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("tcp://{}", listener.local_addr().unwrap());
    let hosts = [
        "tcp://127.0.0.1:1",
        "unix:///nonexistent.sock",
        "tcp://192.0.2.1:2375",
        &silent,
    ];
    for host in hosts {
        let mut cmd = child("remote::child_meets_an_unreachable_engine");
        cmd.env("DOCKER_HOST", host);
        let out = run(cmd);
        let all = text(&out);
        assert!(out.status.success(), "{all}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let first: u64 = line(&stdout, "FIRST_MS=").parse().unwrap();
        let second: u64 = line(&stdout, "SECOND_MS=").parse().unwrap();
        let error = line(&stdout, "ERROR=");
        eprintln!("{host}: first failure after {first} ms, second after {second} ms");
        assert!(first < 5000, "{host}: {first} ms");
        assert!(
            second < 500,
            "{host}: the failure is remembered ({second} ms)"
        );
        for part in [
            "cannot reach the Docker engine at",
            host,
            "(from DOCKER_HOST)",
            "point DOCKER_HOST at a running engine",
            "FIXTURES_PG_BACKEND=local",
        ] {
            assert!(
                error.contains(part),
                "{host}: `{part}` missing from:\n{error}"
            );
        }
    }
}

// ---------------------------------------------------------------------- remote engine --

/// A TCP ↔ unix socket proxy to the local engine, on 127.0.0.1:random; counts connections.
fn engine_proxy() -> (u16, Arc<AtomicUsize>) {
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let Ok((mut tcp, _)) = listener.accept().await else {
                    continue;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut unix) =
                        tokio::net::UnixStream::connect("/var/run/docker.sock").await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                    }
                });
            }
        });
    });
    (rx.recv().unwrap(), connections)
}

#[fixture(scope = test)]
async fn remote_web(setup: &Setup) -> Result<Container, Error> {
    fixtures_docker::start(setup, web_spec()).await
}

#[test]
#[ignore = "run by remote::a_tcp_engine_is_used_and_its_host_resolved"]
fn child_uses_a_tcp_engine() {
    let c = remote_web::fixture()
        .try_lease()
        .expect("starts through the tcp engine");
    assert_eq!(
        c.host(),
        "127.0.0.1",
        "tcp://127.0.0.1:PORT means 127.0.0.1"
    );
    assert_eq!(
        common::http_get(&c.address(8080).unwrap(), "/health").0,
        200
    );
    println!("ID={}", c.id());
}

#[test]
fn a_tcp_engine_is_used_and_its_host_resolved() {
    let (port, connections) = engine_proxy();
    let mut cmd = child("remote::child_uses_a_tcp_engine");
    cmd.env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"));
    let out = run(cmd);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = line(&stdout, "ID=");
    assert!(
        connections.load(Ordering::SeqCst) >= 5,
        "the engine was reached through the proxy"
    );
    assert!(!common::exists(id), "removed at teardown");
}
