//! fixtures-postgres against a real server (Docker or local binaries, per
//! `FIXTURES_PG_BACKEND`): isolation in each scope, template reuse, bad migrations, a server
//! with few connections, the same starting state in every scope.

mod adoption;
mod budget;
mod children;
mod given;
mod isolation;
mod namespaces;
mod roles;
mod same_state;
mod security;
mod sessions;
mod setup_errors;
mod storage;
mod versions;
mod whole_run;

use fixtures_postgres::{Databases, databases};

databases!(
    /// The database fixtures of the tests.
    pub mod pg = Databases::new()
    .migrations_dir("tests/data/migrations")
    .seed("tests/data/seed.sql"));
