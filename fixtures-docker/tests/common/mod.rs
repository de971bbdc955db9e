//! Helpers of the behaviour tests: the local images, a raw engine client to check what the
//! crate did (independently of it), HTTP from the host, and child processes.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use fixtures_docker::ContainerSpec;

/// The testsvc image (`FIXTURES_TEST_SVC_IMAGE`).
pub fn svc() -> ContainerSpec {
    ContainerSpec::from_env("FIXTURES_TEST_SVC_IMAGE", "fixtures-local/testsvc:latest")
}

/// The Postgres image (`FIXTURES_TEST_POSTGRES_IMAGE`).
pub fn pg() -> ContainerSpec {
    ContainerSpec::from_env("FIXTURES_TEST_POSTGRES_IMAGE", "fixtures-local/postgres:15")
}

/// Runs `f` with a raw engine client, on a runtime of its own. Panics (fails the test) when
/// no engine answers: these tests must not skip.
pub fn engine<T>(f: impl AsyncFnOnce(&Docker) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = Docker::connect_with_local_defaults()
            .expect("a Docker engine on the local socket")
            .negotiate_version()
            .await
            .expect("the Docker engine answers");
        f(&docker).await
    })
}

/// A container as the engine lists it.
#[derive(Debug, Clone)]
pub struct Found {
    pub id: String,
    pub name: String,
    pub state: String,
    pub labels: HashMap<String, String>,
}

/// Containers (any state) carrying all of `labels` (`k=v`).
pub fn containers(labels: &[String]) -> Vec<Found> {
    engine(async |d| {
        let filters = HashMap::from([("label".to_owned(), labels.to_vec())]);
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        d.list_containers(Some(opts))
            .await
            .unwrap()
            .into_iter()
            .map(|c| Found {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .unwrap_or_default()
                    .concat()
                    .trim_start_matches('/')
                    .to_owned(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                labels: c.labels.unwrap_or_default(),
            })
            .collect()
    })
}

/// Containers of the run `run_id`.
pub fn of_run(run_id: &str) -> Vec<Found> {
    containers(&[format!("org.fixtures.run-id={run_id}")])
}

/// Networks of ours carrying all of `labels`.
pub fn networks(labels: &[String]) -> Vec<String> {
    engine(async |d| {
        let filters = HashMap::from([("label".to_owned(), labels.to_vec())]);
        let opts = ListNetworksOptionsBuilder::new().filters(&filters).build();
        d.list_networks(Some(opts))
            .await
            .unwrap()
            .into_iter()
            .filter_map(|n| n.name)
            .collect()
    })
}

/// The names of the volumes that carry all of `labels`.
pub fn volumes(labels: &[String]) -> Vec<String> {
    engine(async |d| {
        let filters = HashMap::from([("label".to_owned(), labels.to_vec())]);
        let opts = bollard::query_parameters::ListVolumesOptionsBuilder::new()
            .filters(&filters)
            .build();
        d.list_volumes(Some(opts))
            .await
            .unwrap()
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect()
    })
}

/// True while the container exists (in any state).
pub fn exists(id: &str) -> bool {
    engine(async |d| {
        d.inspect_container(id, None::<InspectContainerOptions>)
            .await
            .is_ok()
    })
}

/// The host addresses `container_port/tcp` is published on.
pub fn host_ips(id: &str, container_port: u16) -> Vec<String> {
    engine(async |d| {
        let c = d
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .unwrap();
        let ports = c.network_settings.unwrap().ports.unwrap_or_default();
        ports
            .get(&format!("{container_port}/tcp"))
            .cloned()
            .flatten()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|b| b.host_ip)
            .collect()
    })
}

/// Force-removes a container (test clean-up).
pub fn remove(id: &str) {
    engine(async |d| {
        let opts = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        let _ = d.remove_container(id, Some(opts)).await;
    })
}

/// `GET path` from the host; the status code and the body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Polls `f` every 100 ms until it holds or `deadline` passes.
pub fn wait_until(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

const CLEARED: &[&str] = &[
    "NEXTEST",
    "NEXTEST_RUN_ID",
    "NEXTEST_EXECUTION_MODE",
    "NEXTEST_TEST_PHASE",
    "NEXTEST_TEST_NAME",
    "NEXTEST_BINARY_ID",
    "NEXTEST_ATTEMPT_ID",
    "FIXTURES_RUN_ID",
    "FIXTURES_RUN_OWNER",
    "FIXTURES_ROLE",
    "FIXTURES_REUSE",
    "FIXTURES_REUSE_TTL",
    "DOCKER_HOST",
];

/// This test binary with `args`, as `cargo test` would start it: its own run, its own run
/// owner, no engine override.
pub fn this_binary(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    for v in CLEARED {
        cmd.env_remove(v);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// This test binary running the one (possibly ignored) test `name`.
pub fn child(name: &str) -> Command {
    this_binary(&[
        "--exact",
        name,
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
}

/// Waits for `child`, killing it after `deadline`.
pub fn finish(mut child: Child, deadline: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("child did not finish within {deadline:?}\n{}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `cmd` to completion (at most 3 minutes).
pub fn run(mut cmd: Command) -> Output {
    finish(cmd.spawn().unwrap(), Duration::from_secs(180))
}

/// Everything a child said.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh scratch file path for this process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fixtures-docker-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// A process that lives until killed (`sleep 600`), e.g. to play a run's owner.
pub struct Helper(pub Child);

impl Helper {
    pub fn start() -> Helper {
        Helper(Command::new("sleep").arg("600").spawn().unwrap())
    }

    /// Its `pid:start`.
    pub fn process(&self) -> fixtures_core::watchdog::ProcessRef {
        fixtures_core::watchdog::ProcessRef::of(self.0.id()).unwrap()
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs a future to completion on a runtime of its own (for sync tests).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The labels of the container `id`, as listed among this run's containers.
pub fn labels_of(id: &str) -> HashMap<String, String> {
    of_run(fixtures_core::run_id())
        .into_iter()
        .find(|c| c.id == id)
        .map(|c| c.labels)
        .unwrap_or_else(|| panic!("container {id} is not listed under this run's label"))
}

/// testsvc, published and ready when `/health` answers 200.
pub fn web_spec() -> ContainerSpec {
    svc()
        .expose(8080)
        .wait_for(fixtures_docker::WaitFor::http(8080, "/health", 200))
}

/// The rest of the line after `key` in a child's output (libtest may print `test NAME ... `
/// on the same line before it).
pub fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.find(key).map(|i| l[i + key.len()..].trim_end()))
        .unwrap_or_else(|| panic!("no {key} line in:\n{out}"))
}
