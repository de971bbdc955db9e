//! The local backend: a private server from the machine's Postgres binaries, data on tmpfs.
//!
//! `initdb` runs once per machine (per binaries and user) into a cache; each run copies the
//! cached data directory (≈ 75 ms on tmpfs instead of ≈ 850 ms) and starts `postgres` on a free
//! port, listening on 127.0.0.1 and a private unix socket, with durability off. As root, the
//! server runs as the `postgres` user. All processes of one run share one server (its address
//! is kept in the run's folder, under a lock); the run's owner stops it, or the watchdog does
//! when the run was killed.

use fixtures_core::Setup;
use fixtures_core::watchdog::{self, ProcessRef};
use futures_util::future::BoxFuture;

use super::{Driver, Started};
use crate::address::Address;
use crate::error::Error;

mod cluster;
mod machine;
mod record;

use record::LocalServer;
pub(crate) use record::reap;

/// The local backend.
pub(crate) struct Local;

/// Whether this machine has the Postgres binaries the local backend needs.
pub(super) fn available() -> bool {
    machine::Binaries::find().is_ok()
}

impl Driver for Local {
    fn start<'a>(&'a self, setup: &'a Setup) -> BoxFuture<'a, Result<Started, Error>> {
        Box::pin(async move {
            let max = crate::config::max_connections()?;
            let (server, adopted) = tokio::task::spawn_blocking(move || find_or_start(max))
                .await
                .map_err(|e| Error::LocalServer {
                    step: "starting",
                    detail: e.to_string(),
                })??;
            tracing::info!(port = server.port, adopted, "local Postgres server");
            let mut address =
                Address::postgres("127.0.0.1".into(), server.port, server.password.clone());
            address.socket_dir = Some(server.socket_dir.clone());
            // The server is the run's: the run's owner stops it at its teardown; other
            // processes of the run leave it to the owner's watchdog.
            setup.on_teardown("stop the local Postgres server", move || {
                if server.owner == ProcessRef::current() {
                    server.stop();
                    record::forget();
                }
            });
            Ok(Started::new(address, adopted))
        })
    }

    fn sweep_leftovers(&self) {
        record::sweep();
    }
}

/// Finds this run's server, or starts it. Blocking; call from a blocking context.
fn find_or_start(max_connections: u32) -> Result<(LocalServer, bool), Error> {
    let io = |step: &'static str| {
        move |e: std::io::Error| Error::LocalServer {
            step,
            detail: e.to_string(),
        }
    };
    let record = LocalServer::record();
    let _held = record
        .lock()
        .map_err(io("locking the run's server record"))?;
    if let Some(existing) = LocalServer::load(&record) {
        if existing.serving() {
            return Ok((existing, true));
        }
        // Stopping (its watcher found it idle): let it go before starting the next one, whose
        // record replaces its own.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while existing.pid.is_alive() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    // The watchdog first: a run killed while the data directory is being copied or the
    // server is starting leaves a folder only it (or the next run's sweep) would remove.
    watchdog::ensure("pg-local-reaper").map_err(io("starting the watchdog"))?;
    let server = cluster::start(max_connections)?;
    server.save(&record).map_err(io("recording the server"))?;
    Ok((server, false))
}
