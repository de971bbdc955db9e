//! The reaper that lives in the engine. The run's own reaper (`reaper.rs`) is a process of
//! the run's machine: a CI job cancelled whole — tests, runner and that process SIGKILLed
//! at once — leaves nobody to remove the run's containers. So, as testcontainers' Ryuk does,
//! each run also has a reaper container, outside the run's process tree: the test binary
//! itself, in the reaper role, run by the engine from an empty image with this machine's
//! system folders, the binary and the state folder bound read-only (the state folder
//! writable), in the host's process namespace (so that it sees the run's owner die) and
//! without a network (it talks to the engine over its socket). It waits for the owner, reaps
//! the run as the other reaper does, and is removed by the engine when it ends.
//!
//! Only for an engine on this machine's unix socket: a remote engine cannot run this
//! machine's binary (its runs rely on the next run's sweep, as before).
// The `#[ctor]` attribute expands to a link-section static, which the `unsafe_code` lint
// flags; nothing else in this module is unsafe.
#![allow(unsafe_code)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fixtures_core::watchdog;

use crate::client_types::CreateRequest;
use crate::derive;
use crate::endpoint::Endpoint;
use crate::engine::Engine;
use crate::labels;
use crate::naming::short_hash;
use crate::reaper;
use crate::spec::ContainerSpec;

/// The role the reaper container serves.
const ROLE: &str = "docker-reaper-engine";
/// The empty image it runs from: no files of its own, only the bound folders.
const EMPTY_IMAGE: &str = "fixtures-derived:empty";

#[ctor::ctor(unsafe)]
fn engine_reaper_role() {
    watchdog::serve_if_role(ROLE, reaper::cleanup);
}

/// Makes sure the run has a reaper container, in the background (off the first container's
/// path): the first call in a process may start one; a second process of the run finds it by
/// name.
pub(crate) fn spawn(engine: &Arc<Engine>) {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    let engine = engine.clone();
    fixtures_core::runtime::handle().spawn(async move { ensure(&engine).await });
}

async fn ensure(engine: &Engine) {
    // Keeps the constructor's code unit linked into every binary that creates containers.
    std::hint::black_box(engine_reaper_role as fn());
    let Endpoint::Unix { path } = &engine.endpoint else {
        return;
    };
    // It reads the run owner's pid in the host's process namespace: a run in a namespace of
    // its own (a CI job's container) has pids that mean nothing there.
    if !in_the_hosts_pid_namespace() {
        tracing::debug!("no reaper in the engine: this run has a PID namespace of its own");
        return;
    }
    if let Err(e) = start(engine, path).await {
        tracing::warn!(
            "no reaper in the engine ({e}): if the whole run is killed at once, its containers \
             wait for the next run's sweep"
        );
    }
}

/// Whether this process is in the kernel's initial PID namespace (its inode is fixed:
/// `PROC_PID_INIT_INO`), the one a container with `--pid=host` shares.
fn in_the_hosts_pid_namespace() -> bool {
    std::fs::read_link("/proc/self/ns/pid").is_ok_and(|l| l.to_string_lossy() == "pid:[4026531836]")
}

async fn start(engine: &Engine, socket: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("this binary: {e}"))?;
    let exe = exe
        .to_str()
        .ok_or("this binary's path is not UTF-8")?
        .to_owned();
    let state = watchdog::state_dir_checked().map_err(|e| format!("the state folder: {e}"))?;
    let state = state
        .to_str()
        .ok_or("the state folder is not UTF-8")?
        .to_owned();
    derive::build_once(
        engine,
        EMPTY_IMAGE,
        "FROM scratch\nLABEL org.fixtures.empty=true\n",
        &[],
    )
    .await?;
    let me = std::fs::metadata("/proc/self").map_err(|e| e.to_string())?;
    let socket_group = std::fs::metadata(socket).map_err(|e| e.to_string())?.gid();
    let run = fixtures_core::run_id();
    let (image, tag) = EMPTY_IMAGE.split_once(':').unwrap_or((EMPTY_IMAGE, ""));
    let mut spec = ContainerSpec::new(image, tag)
        .entrypoint([exe.clone()])
        .env("FIXTURES_ROLE", ROLE)
        .env("FIXTURES_RUN_ID", run)
        .env("FIXTURES_RUN_OWNER", watchdog::run_owner().to_string())
        .env("FIXTURES_STATE_DIR", &state)
        .env("DOCKER_HOST", format!("unix://{socket}"))
        .user(format!("{}:{}", me.uid(), me.gid()))
        .network("none")
        .auto_remove(true)
        .bind(&exe, &exe, true)
        .bind(&state, &state, false)
        .bind(socket, socket, false);
    for dir in ["/usr", "/lib", "/lib64", "/lib32", "/libx32"] {
        if Path::new(dir).exists() {
            spec = spec.bind(dir, dir, true);
        }
    }
    spec.host_pid = true;
    spec.groups = vec![socket_group.to_string()];
    let name = format!("fx-reaper-{}", short_hash(&[run]));
    let request = CreateRequest {
        name: &name,
        spec: &spec,
        labels: &labels::reaper(run),
        bind_ip: &engine.bind_ip,
    };
    let id = match engine.client.create(request).await {
        Ok(id) => id,
        // Another process of the run made it.
        Err(e) if e.status == Some(409) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    if let Err(e) = engine.client.start(&id).await {
        // Created, not started: nothing would remove it (auto-removal needs a start).
        let _ = crate::launch::remove(engine, &id, &name).await;
        return Err(e.to_string());
    }
    tracing::debug!(container = %name, "reaper container started");
    Ok(())
}
