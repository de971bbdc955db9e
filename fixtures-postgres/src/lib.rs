//! Real Postgres for tests: one server per run, and per test module the cleanest or the fastest
//! isolation — a fresh database per test, or a shared one restored between tests. Either way
//! each test starts from the template's state: the same schema, rows, sequences and
//! materialized views as a fresh clone of it.
//!
//! ```
//! use fixtures_postgres::prelude::*;
//!
//! databases!(
//!     /// The tests' databases: two tables, created by the migrations in `tests/data`.
//!     pub mod pg = Databases::new().migrations_dir("tests/data/migrations")
//! );
//!
//! // In a test: `#[rstest] #[tokio::test] async fn t(db: Lease<TestDb>) { ... }` with
//! // `use crate::pg::module_scope::db;` — or `test_scope`, or `suite_scope`.
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let db = pg::test_scope::db::fixture().lease_async().await.unwrap();
//! let pool = db.pool(); // on this runtime, capped
//! sqlx::query("INSERT INTO notes (owner, body) VALUES ('doc', 'hello')")
//!     .execute(&pool)
//!     .await
//!     .unwrap();
//! let n: i64 = sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&pool).await.unwrap();
//! assert_eq!(n, 1);
//! # }
//! ```
//!
//! # Coming from …
//! - **`#[sqlx::test]`**: `#[sqlx::test(migrations = "migrations")] async fn t(pool: PgPool)`
//!   becomes `databases!(pub mod pg = Databases::new().migrations_dir("migrations"));` once,
//!   and `#[rstest] #[tokio::test] async fn t(#[from(pg::test_scope::db)] db: Lease<TestDb>)`
//!   with `db.pool()` — the migrations run once per run, not once per test; `module_scope`
//!   gives the same starting state for less.
//! - **a hand-written helper** that creates `test_<uuid>`, migrates it and never drops it:
//!   `let db = pg::test_scope::db::fixture().lease_async().await?;` inside the helper, kept in
//!   the helper's struct; `db.parts()` fills the app's settings (any client, any sqlx
//!   version), [`Databases::migrate_with`] runs the app's own migration code once per
//!   template; the database is dropped after the test.
//! - **testcontainers** (`Postgres::default().start()` per test, or in a `static` that is
//!   never removed): one server per run, started on first use and removed at exit — or by a
//!   watchdog after `kill -9`; `fixtures-docker` for the app's other containers.
//!
//! # The server
//! [`pg_server`] (suite scope) starts or joins the run's server, from the first backend that
//! applies (see [`Backend::select`]):
//! 1. `FIXTURES_PG_URL` — an external server (a CI service): only databases of our own are
//!    created and dropped there;
//! 2. `FIXTURES_PG_BACKEND=docker|local` — forced;
//! 3. a Docker container of `FIXTURES_POSTGRES_IMAGE` (default `postgres:15`) when an engine
//!    answers: random password, port on 127.0.0.1, data on tmpfs, `fsync`,
//!    `synchronous_commit` and `full_page_writes` off, ready when `SELECT 1` answers. The data
//!    directory is `initdb`'d once per image (a derived local image, `fixtures-derived:…`,
//!    built by the engine the first time, never pulled) and unpacked at each start: a cold
//!    container is ready in ~0.4 s;
//! 4. the machine's Postgres binaries: `initdb` once into a cache, then a copy of it on tmpfs
//!    per run, a private server as the `postgres` user when run as root.
//!
//! All processes of a run (nextest) share one server; it is stopped when the run ends, and a
//! watchdog stops it if the run is killed. A run's later processes find the Docker backend's
//! server through the address its first process left in the run's folder (checked with a
//! connection; no engine calls, no second sweep).
//!
//! With `FIXTURES_REUSE=1` (opt-in, Docker backend) the container outlives the run and the
//! next run adopts it in a few tens of milliseconds instead of starting one (~2 s), templates
//! included: an edit-test loop skips the server start and the migrations. What a run made
//! there (test and shared databases) is still dropped when the run ends, or swept by the next
//! run if it was killed; the container is removed once idle for `FIXTURES_REUSE_TTL` (default
//! `30m`, by the next run's sweep), or by hand (`docker rm -f` of the `fx-reuse-…` container).
//!
//! # Databases per scope
//! - **test scope** (the cleanest): a clone of a template that has the migrations and seed
//!   applied once (keyed by their hash, reused by later runs), with clones prepared ahead in
//!   the background; dropped after the test (in the background too: the next test does not
//!   wait; the run's server is stopped only after the drops are done).
//! - **module scope** / **suite scope** (faster / fastest): a database shared by the
//!   module's / run's tests, restored to the template's state before each test by [`clean`]:
//!   the rows written since deleted, the template's rows (migrations, seed) that a test deleted
//!   or changed put back, every moved sequence (owned or not) set back, refreshed materialized
//!   views refreshed back. The shared databases are clones of a *prepared template* (the
//!   template and a snapshot of its contents in the `_fixtures` schema); after a test ran DDL
//!   (or touched the framework's objects) the database is replaced by a fresh clone of it
//!   before the next test. Tests running at the same time
//!   get copies of it ("lanes", up to `FIXTURES_PG_LANES`), each used by one test at a time
//!   (an advisory lock per lane: across processes too); with `FIXTURES_PG_LANES=1` the tests
//!   take turns on one database.
//! - **rollback scope** (opt-in): a turn on the run's shared database and one connection
//!   inside a transaction rolled back after the test ([`TxDb`]); for code that takes a
//!   connection rather than a pool.
//!
//!   When a module's instance ends in the run's owner process, its lanes go to the next
//!   module of the same template and cleaning options (cleaned before its first test, their
//!   connections warm), unless a test ran DDL there (noticed by the cleaning's event trigger;
//!   without a superuser nothing is handed on); they are dropped at exit.
//!
//! # Connections
//! On the servers it starts (Docker and local backends: throwaway, random password, loopback
//! or a private socket only) the framework stores the password as md5: a SCRAM-SHA-256
//! handshake costs a debug-build client ~50 ms of CPU per connection, md5 next to nothing.
//! External servers are left as they are. A Docker backend's server is reached at the
//! container's own address when the engine runs on this machine (no port proxy copying every
//! query; `FIXTURES_DOCKER_DIRECT=0` keeps the published port).
//!
//! Module and suite scope keep a lane's test connections from one test to the next in a
//! process (from its second turn there): before each test every one is reset (`RESET ALL`,
//! advisory locks released, `DISCARD TEMP`, `DISCARD SEQUENCES`, `UNLISTEN *`; prepared
//! statements stay, they are the pool's cache), and one left inside a transaction is ended.
//! A test therefore does not pay for new server processes and statement preparation.
//!
//! # Safety
//! Every database the framework creates carries a mark (its comment); it refuses to clean or
//! drop one without it. `FIXTURES_PG_KEEP_FAILED=1` keeps a failed test's database (in module
//! and suite scope: set aside under a name of its own, the lane continues on a fresh clone),
//! prints a `psql` command, and a later run removes it after `FIXTURES_PG_KEEP_TTL` (default 24 h).
//!
//! | variable | effect |
//! |---|---|
//! | `FIXTURES_PG_URL` | use this server (external backend) |
//! | `FIXTURES_PG_BACKEND` | `auto` (default), `docker`, `local` |
//! | `FIXTURES_POSTGRES_IMAGE` | image of the Docker backend (`postgres:15`) |
//! | `FIXTURES_PG_BINDIR` | folder of `initdb` and `postgres` for the local backend |
//! | `FIXTURES_PG_DATA_ROOT` | tmpfs folder for the local backend's data (`/dev/shm/...`) |
//! | `FIXTURES_PG_MAX_CONNECTIONS` | `max_connections` of servers we start (300) |
//! | `FIXTURES_PG_IDLE_STOP` | a server we start stops itself after this long with no client (`5s`; `off`): nothing is left when a whole run is killed at once |
//! | `FIXTURES_PG_POOL_MAX` | connections per test pool (4) |
//! | `FIXTURES_PG_BUDGET` | connections all processes of all runs may hold on the server together (`max_connections` − reserved − 2; `off`) |
//! | `FIXTURES_PG_BUDGET_WAIT` | how long a process or test waits for room in the budget (`240s`) |
//! | `FIXTURES_PG_WARM` | clones prepared ahead for test scope (4; 0: off) |
//! | `FIXTURES_PG_LANES` | copies of a shared database used at once (the machine's parallelism) |
//! | `FIXTURES_PG_KEEP_FAILED`, `FIXTURES_PG_KEEP_TTL` | keep failed tests' databases |
//! | `FIXTURES_REUSE=1`, `FIXTURES_REUSE_TTL` | keep the Docker backend's server for the next run |
#![deny(unsafe_code)]

mod address;
mod backend;
mod budget;
pub mod catalog;
pub mod clean;
mod config;
mod database;
mod drops;
mod error;
mod fresh;
mod keeper;
#[cfg(test)]
mod live_tests;
mod macros;
mod mark;
mod names;
mod parts;
mod psql;
mod ready;
mod restore;
mod role;
mod rollback;
mod server;
mod server_wide;
mod shared;
mod sql;
mod start;
mod sweep;
mod template;

pub use backend::{Backend, PostgresImage};
pub use database::TestDb;
pub use error::Error;
pub use parts::ConnectParts;
pub use rollback::TxDb;
pub use server::PgServer;
pub use shared::SharedDb;
pub use start::{pg_server, server_at, server_of_image};
pub use template::Databases;

// So that the code of this crate's `#[fixture]` (which names `::fixtures_postgres`) also
// compiles inside this crate.
extern crate self as fixtures_postgres;

/// fixtures-core, the crate of scopes, leases and finalizers, for what the items below do not
/// cover: a project that depends on fixtures-postgres needs no dependency on it.
pub use fixtures_core;

/// Declares a scoped fixture in a crate that depends on fixtures-postgres alone. Take it from
/// [`prelude`] or from here, not together with `fixtures_core::prelude::*` (both bring a
/// `fixture`).
#[doc(inline)]
pub use fixtures_core::__private::fixture_via_postgres as fixture;

/// Re-exported from fixtures-core.
pub use fixtures_core::{Lease, Scope, Setup, needs_services};

/// What a test file needs: `use fixtures_postgres::prelude::*;` brings fixtures-core's prelude
/// (`#[fixture]`, `Lease`, `Setup`, `Scope`) and this crate's main types and macro. Use it
/// instead of `fixtures_core::prelude`, not with it.
///
/// ```
/// use fixtures_postgres::prelude::*;
///
/// /// A fixture of the project's own, next to the databases.
/// #[fixture(scope = module)]
/// fn tenant() -> String {
///     "acme".to_owned()
/// }
///
/// // In a test: `#[rstest] fn t(tenant: Lease<String>) { ... }`.
/// let tenant: Lease<String> = tenant();
/// assert_eq!(*tenant, "acme");
/// ```
pub mod prelude {
    pub use fixtures_core::prelude::*;

    pub use crate::fixture;
    pub use crate::{Databases, PgServer, TestDb, TxDb, databases, pg_server};
}

/// In a watchdog process started for a run: wait for the run to end, then stop its local
/// server, or sweep what it left on an external one.
#[allow(unsafe_code)]
#[ctor::ctor(unsafe)]
fn watchdog_role() {
    fixtures_core::watchdog::serve_if_role("pg-local-reaper", backend::reap_local);
    fixtures_core::watchdog::serve_if_role(backend::JANITOR, backend::sweep_external);
}
