//! Real Postgres for tests (work in progress: see the modules).
#![forbid(unsafe_code)]

pub mod catalog;
pub mod clean;
mod error;

pub use error::Error;
