//! Docker containers as scoped test fixtures: one per test, per module, or one for the whole
//! run — shared by all of nextest's processes — and never left behind, not even after
//! `kill -9`.
//!
//! ```no_run
//! use fixtures_core::prelude::*;
//! use fixtures_docker::{Container, ContainerSpec, WaitFor};
//!
//! /// One testsvc container for the whole run, however many processes run its tests.
//! #[fixture(scope = suite)]
//! async fn service(setup: &Setup) -> Result<Container, fixtures_docker::Error> {
//!     let spec = ContainerSpec::from_env("FIXTURES_TEST_SVC_IMAGE", "fixtures-local/testsvc:latest")
//!         .env("TESTSVC_LOG_REPEAT", "1")
//!         .expose(8080) // on 127.0.0.1, on a random free port
//!         .wait_for(WaitFor::http(8080, "/health", 200));
//!     fixtures_docker::start(setup, spec).await
//! }
//!
//! // In a test file:
//! // #[rstest]
//! // fn answers(service: Lease<Container>) {
//! //     let addr = service.address(8080).unwrap(); // "127.0.0.1:49153"
//! // }
//! # fn main() {}
//! ```
//!
//! # What a container is
//! A [`ContainerSpec`] is data: image and tag, environment, command and entrypoint, exposed
//! ports, tmpfs, bind mounts and volumes, labels, network and aliases, stop timeout, and
//! readiness conditions ([`WaitFor`]: a log line seen *n* times, a TCP port, a command that
//! exits 0, an HTTP status, your own async probe), all polled with capped exponential backoff
//! under one deadline. A container that exits while it is waited for fails at once, with its
//! exit code and its last log lines; one that is not ready in time fails with the last probe
//! error and its last log lines. Typed images implement [`Image`].
//!
//! # Scopes
//! [`start`] looks at the fixture's scope:
//! - **test / module**: a container of the instance's own, removed at its teardown;
//! - **suite**: one container per spec for the run. Under `cargo test` the process shares
//!   it; under `cargo nextest run` (one process per test, one `NEXTEST_RUN_ID`) the processes
//!   find it by its labels under a lock in the run's folder, each takes a lease, and it is
//!   removed once the run is over: by the last process under `cargo test`, by the reaper
//!   when nextest's runner exits. 200 tests, 1 container, 0 after the run.
//! - **reuse** ([`ContainerSpec::reuse`] and `FIXTURES_REUSE=1`): kept across runs, adopted
//!   by the next run with the same spec, removed after `FIXTURES_REUSE_TTL` idle.
//! - **Redis**: a server of any of these scopes ([`redis_spec`]), and for each test a logical
//!   database of its own, empty, claimed across the run's processes ([`redis_db`]).
//!
//! # Nothing left behind
//! Every container and network carries labels: `org.fixtures.managed-by=fixtures`, the run
//! id, the creating process and the run's owner (`pid:start`), the machine and its boot,
//! created-at and expires-at (24 h for ordinary ones), the spec hash and the scope.
//! - Normal teardown goes through the fixtures core (also at exit and on SIGINT/SIGTERM).
//! - The first container of a run starts a *reaper*: the test binary again, detached, which
//!   waits for the run's owner to die and removes the run's containers and networks — also
//!   after `kill -9`, within a second or so. With an engine on this machine's socket, the run
//!   also gets a reaper *in the engine* (as testcontainers' Ryuk): the same binary run by the
//!   engine from an empty image (`fixtures-derived:empty`, built once), outside the run's
//!   process tree, so that a run killed whole — a CI job cancelled, watchdog included — still
//!   leaves nothing (measured: gone 5.5 s after the kill).
//! - The first use of the engine in a process *sweeps* leftovers of dead runs: runs of this
//!   machine whose owner is gone, and anything past its expiry. A remote engine may serve
//!   several machines: pids are only judged for resources made on this machine.
//!
//! # The engine
//! `DOCKER_HOST` (`unix://PATH` or `tcp://HOST:PORT`; default `/var/run/docker.sock`).
//! Published ports are reached at `127.0.0.1` for a socket, at `HOST` for a TCP engine.
//! Ports are published on `127.0.0.1` only, unless the engine is remote (a non-loopback
//! `tcp://` host): its loopback is out of reach, so they are published on all its
//! interfaces. An engine that does not answer within 3 s fails every start at once with one
//! error that says what was tried and what to do (remembered for the process);
//! [`engine_available`] asks the same question without failing, to pick another backend.
//!
//! | variable | effect |
//! |---|---|
//! | `DOCKER_HOST` | the engine (`unix://…`, `tcp://…`) |
//! | `FIXTURES_REUSE=1` | let specs marked [`ContainerSpec::reuse`] survive the run |
//! | `FIXTURES_REUSE_TTL` | idle time before a reused container is swept (default `30m`) |
//! | `FIXTURES_PULL_TIMEOUT` | deadline of an image pull (default `10m`) |
//! | `FIXTURES_CONTAINER_HOST` | host to connect to for published ports (overrides the above) |
//! | `FIXTURES_DOCKER_BIND_IP` | host address ports are published on |
//! | `FIXTURES_DOCKER_DIRECT=0` | never offer a container's own address ([`Container::direct_address`]) |
//! | `FIXTURES_LOG=fixtures_docker=info` | log create / start / ready / adopt / remove |
//!
//! # Caveats
//! - Two suite fixtures with identical specs share one container; add a
//!   [`label`](ContainerSpec::label) to tell them apart.
//! - The reaper is the test binary started again: a binary that calls [`start`] links it.
//! - TLS and SSH engines are not spoken to directly: forward them to a socket or a port.
#![deny(unsafe_code)]

mod client;
mod client_types;
mod compose;
mod container;
mod derive;
mod endpoint;
mod engine;
mod engine_reaper;
mod error;
mod first_use;
mod handoff;
mod image;
mod info;
mod labels;
mod launch;
mod mount;
mod naming;
mod network;
mod probe;
mod pull;
mod ready;
mod reaper;
mod redis;
mod reference;
mod reuse;
mod shared;
mod spec;
mod start;
mod sweep;
mod volume;
mod wait;

pub use compose::{Compose, ComposeFile};
pub use container::Container;
pub use error::Error;
pub use first_use::{engine_available, engine_ready};
/// Re-exported from fixtures-core: marks a test that needs Docker for the skip switch
/// (`FIXTURES_SKIP`).
pub use fixtures_core::needs_services;
pub use image::Image;
pub use info::ContainerInfo;
pub use network::{Network, network};
pub use redis::{RedisDb, redis_db, redis_spec};
pub use spec::ContainerSpec;
pub use start::start;
pub use wait::{Probe, WaitFor};

/// What a fixture file needs: `use fixtures_docker::prelude::*;`.
pub mod prelude {
    pub use crate::{Container, ContainerSpec, Image, Network, WaitFor, network, start};
}

#[cfg(test)]
mod tests {
    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<crate::Container>();
        check::<crate::ContainerInfo>();
        check::<crate::ContainerSpec>();
        check::<crate::WaitFor>();
        check::<crate::Network>();
        check::<crate::Error>();
    }
}
