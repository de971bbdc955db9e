//! Real Postgres for tests (work in progress).
#![deny(unsafe_code)]

pub mod catalog;
pub mod clean;
mod config;
mod container;
mod database;
mod error;
mod fresh;
#[cfg(test)]
mod live_tests;
mod local;
mod macros;
mod mark;
mod names;
mod server;
mod shared;
mod sweep;
mod template;

pub use container::PostgresImage;
pub use database::TestDb;
pub use error::Error;
pub use server::{Backend, PgServer, pg_server};
pub use shared::SharedDb;
pub use template::Databases;

/// In the watchdog process started for a run's local server: wait for the run to end, stop it.
#[allow(unsafe_code)]
#[ctor::ctor(unsafe)]
fn watchdog_role() {
    fixtures_core::watchdog::serve_if_role("pg-local-reaper", local::reap);
}
