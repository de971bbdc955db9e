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
    engine_proxy_on("127.0.0.1")
}

/// [`engine_proxy`] on address `ip`.
fn engine_proxy_on(ip: &'static str) -> (u16, Arc<AtomicUsize>) {
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
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

// ------------------------------------------- a remote engine, seen from another network --

/// A network namespace of the test's own, joined to this one by a veth pair: `host_ip` on this
/// side, `.2` of the same /30 inside. Removed (with its pair) when dropped.
struct NetNs {
    name: String,
    host_ip: String,
}

impl NetNs {
    fn create() -> NetNs {
        let n = std::process::id() % 250;
        let name = format!("fx-remote-{}", std::process::id());
        let (outer, inner) = (format!("fxva{n}"), format!("fxvb{n}"));
        let host_ip = format!("10.213.{n}.1");
        let ip = |args: &[&str]| {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ip {}: {} (this test needs CAP_NET_ADMIN: root on Linux)",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &name])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &outer])
            .output();
        ip(&["netns", "add", &name]);
        let ns = NetNs { name, host_ip };
        ip(&[
            "link", "add", &outer, "type", "veth", "peer", "name", &inner,
        ]);
        ip(&["link", "set", &inner, "netns", &ns.name]);
        ip(&["addr", "add", &format!("{}/30", ns.host_ip), "dev", &outer]);
        ip(&["link", "set", &outer, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &ns.name, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&["addr", "add", &format!("10.213.{n}.2/30"), "dev", &inner]);
        inside(&["link", "set", &inner, "up"]);
        inside(&["link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // The pair goes with the namespace.
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

#[test]
#[ignore = "run by remote::a_remote_engine_on_another_network_publishes_and_is_reached"]
fn child_uses_a_remote_engine() {
    let want = std::env::var("FIXTURES_TEST_REMOTE_HOST").unwrap();
    let c = remote_web::fixture()
        .try_lease()
        .expect("starts through the remote engine");
    assert_eq!(
        c.host(),
        want,
        "the engine's address is the containers' host"
    );
    let address = c.address(8080).unwrap();
    assert_eq!(common::http_get(&address, "/health").0, 200, "{address}");
    println!("ID={}", c.id());
    println!("ADDRESS={address}");
}

#[test]
fn a_remote_engine_on_another_network_publishes_and_is_reached() {
    // The engine, as another machine's: a TCP address on a network the client reaches only
    // through a veth pair (the client runs in a network namespace of its own, where the
    // engine's socket and loopback are out of reach).
    let ns = NetNs::create();
    let ip: &'static str = Box::leak(ns.host_ip.clone().into_boxed_str());
    let (port, connections) = engine_proxy_on(ip);
    let child = child("remote::child_uses_a_remote_engine");
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &ns.name])
        .arg(child.get_program())
        .args(child.get_args())
        .envs(child.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("DOCKER_HOST", format!("tcp://{ip}:{port}"))
        .env("FIXTURES_TEST_REMOTE_HOST", ip)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = run(cmd);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (id, address) = (line(&stdout, "ID="), line(&stdout, "ADDRESS="));
    assert!(address.starts_with(&format!("{ip}:")), "{address}");
    assert!(
        connections.load(Ordering::SeqCst) >= 5,
        "the engine was reached over TCP"
    );
    let gone = common::wait_until(std::time::Duration::from_secs(15), || !common::exists(id));
    assert!(gone, "removed at teardown");
}
