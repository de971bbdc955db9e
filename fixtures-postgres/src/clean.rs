//! Restoring a shared database between tests.
//!
//! A module- or suite-scoped database is shared by several tests, which take turns on it.
//! Before each test it is brought back to the state it had when `prepare` took its snapshot
//! — for the framework's shared databases, the template's state: the rows of every table
//! (migration and seed rows included), the state of every sequence (owned or not), the
//! contents of every materialized view. A clean that cannot restore in place changes nothing
//! and says why in [`CleanReport::replace`] (a test ran DDL, the framework's objects are
//! gone, …); the framework then replaces the database by a fresh clone. The tables are listed
//! from the catalog (see [`crate::catalog`] for what is listed, and for `only` / `except`);
//! the migrations table `_sqlx_migrations` and the tables of extensions are left alone.
//!
//! How the rows come back (`restore.rs`): `prepare` copies every table that holds rows into
//! `_fixtures`, with each row's `ctid`. A clean deletes from a written table the rows newer
//! than the snapshot's transaction (a test's inserts and the new versions of its updates) and
//! puts back the copied rows whose `ctid` no longer holds an old row. A table that was empty
//! in the snapshot is emptied as below. Template rows come back under
//! `session_replication_role = replica` (no trigger, no foreign-key action); a role that may
//! not set it gets a fresh clone instead when that would matter.
//!
//! # Strategies
//! Medians measured on a tmpfs server with fsync off (`benches/clean.rs`), after a typical test
//! (a few rows in four tables):
//!
//! | strategy | how | 20 tables | 100 tables |
//! |---|---|---|---|
//! | [`Auto`](CleanStrategy::Auto) (default) | only the tables written since the last clean | ~1.4 ms | ~2 ms |
//! | [`Delete`](CleanStrategy::Delete) | every table in scope | ~2.2 ms | ~8 ms |
//! | [`Truncate`](CleanStrategy::Truncate) | one literal `TRUNCATE … RESTART IDENTITY CASCADE` (empties; no restore) | ~30 ms | ~160 ms |
//!
//! (BENCHMARKS.md, addendum of 2026-12-04; with seed rows in 5 tables, 1,000 in all, `Auto`
//! restores them in ~1.8 / ~2.3 ms.)
//!
//! (`BEGIN` … `ROLLBACK` around a test costs ~0.1 ms, but cannot share a database across the
//! connections of a test.) `TRUNCATE` costs about a millisecond per table whatever the tables
//! hold (it replaces their files); `DELETE` costs next to nothing on an empty or nearly empty
//! table and grows with the rows. `Auto` uses each where it wins:
//! - `prepare` puts a statement-level trigger on every table that records, once per clean,
//!   that the table was written. Probing the tables for rows would cost more than deleting.
//! - A clean is one call of a PL/pgSQL function that `prepare` installed: one round trip. It
//!   takes the tables in scope from the catalog — cached until a DDL command runs in the
//!   database, which an event trigger notices (when a superuser prepared it) — and the written
//!   ones among them (a written partitioned table or parent stands for its partitions and
//!   children).
//! - A written table of 16 pages or more per table its `TRUNCATE … CASCADE` would reach is
//!   truncated (10,000 rows in each of three tables: ~10 ms, where deleting them costs ~25 ms).
//! - The others are emptied by one `DELETE` statement for all of them, so that foreign keys,
//!   checked at its end, find every written table empty whatever the order or the cycles. The
//!   foreign keys stay checked when that is cheap (no `DELETE` trigger or rule, at most 64 rows
//!   in referenced tables); otherwise the statement runs under
//!   `session_replication_role = replica`, so that no foreign-key or user trigger fires.
//!   (Switching the role makes Postgres forget the session's cached plans: ~0.5 ms.)
//! - Every sequence whose `last_value` or `is_called` moved goes back to its snapshot state
//!   (one generated query reads them all), also when no row was kept: an `INSERT` that
//!   failed after taking an id.
//! - A materialized view refreshed since (the event trigger records it) is refreshed again
//!   when its snapshot contents were its query's result; otherwise the database is replaced.
//! - DDL since the snapshot (counted by the event trigger, or seen in a fingerprint of the
//!   catalog without one) makes the clean ask for a replacement: the schema cannot be put back
//!   in place. Temporary objects do not count.
//!
//! # Without a superuser
//! External servers often give a role that owns the tables but is no superuser. Then `Auto`
//! deletes with the foreign keys checked (a table with a `DELETE` trigger or rule is truncated
//! instead, and the report says so), and the catalog is listed at every clean, as no event
//! trigger can be created: the catalog's fingerprint is compared at every clean instead (a few
//! milliseconds at 100 tables). `Delete` truncates every table. Without the right to create
//! the `_fixtures` schema, or when template rows would have to come back into a table with an
//! `INSERT` trigger or one that foreign keys reference, the clean asks for a replacement.
//!
//! # Caveats
//! - `Auto` and `Delete` fire no user trigger while they clean (a table with a `DELETE` trigger
//!   or rule that would fire is truncated; literal `TRUNCATE` fires `ON TRUNCATE` triggers).
//! - A table excluded with `except` that references a cleaned table is emptied anyway, as
//!   `TRUNCATE … CASCADE` would (its rows would point at nothing); so is an excluded partition
//!   or child of a cleaned table.
//! - The physical order of restored rows differs: an unordered `SELECT` may list them in
//!   another order than a fresh clone would (order by a key).
//! - A test that runs `VACUUM FREEZE` hides its rows from the restore.
//! - Rows written in a transaction that is still open when the clean runs are cleaned by the
//!   next clean; end the test's connections first.
//! - A clean takes `ACCESS EXCLUSIVE` locks only on the tables it truncates.

mod cleaner;
mod install;
mod objects;
mod restore;
mod sql;

pub(crate) use install::VERSION;

use std::time::{Duration, Instant};

use sqlx::PgConnection;

use crate::catalog;

/// How a clean empties the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanStrategy {
    /// The fastest correct mechanism for what the test wrote: only the tables written since
    /// the last clean, deleted from, or truncated when they hold many rows. Prepared for by
    /// `prepare` (which `clean` runs itself if it has not run).
    #[default]
    Auto,
    /// A literal `TRUNCATE <all tables from the catalog> RESTART IDENTITY CASCADE`, one
    /// statement. Needs no preparation; costs about a millisecond per table.
    Truncate,
    /// `DELETE` from every table under `session_replication_role = replica`, and the moved
    /// owned sequences restarted, in one round trip. Without the right to set that role:
    /// `TRUNCATE` of every table.
    Delete,
    /// No cleaning.
    None,
}

/// What to clean and how: the strategy and which tables.
///
/// # Examples
///
/// ```
/// use fixtures_postgres::clean::{CleanOptions, CleanStrategy};
///
/// let opts = CleanOptions::new()
///     .strategy(CleanStrategy::Auto)
///     .except(["countries", "audit.*"]);
/// assert_eq!(opts.except, ["countries", "audit.*"]);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CleanOptions {
    /// How to clean.
    pub strategy: CleanStrategy,
    /// Clean only these tables (`"table"`, `"schema.table"` or `"schema.*"`); empty: all.
    pub only: Vec<String>,
    /// Never clean these tables (same forms), besides `_sqlx_migrations`.
    pub except: Vec<String>,
}

impl CleanOptions {
    /// All tables, [`CleanStrategy::Auto`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the strategy.
    pub fn strategy(mut self, strategy: CleanStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Adds tables to clean; once any is given, the others are left alone. A name is matched
    /// as the catalog stores it (no quotes, case-sensitive): `"table"` in every schema,
    /// `"schema.table"`, or `"schema.*"`; a partitioned table or inheritance parent includes
    /// its partitions and children.
    pub fn only<I, S>(mut self, tables: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only.extend(tables.into_iter().map(Into::into));
        self
    }

    /// Adds tables never to clean (same forms as [`only`](Self::only)). A table that
    /// references a cleaned table through a foreign key is emptied anyway, as by
    /// `TRUNCATE … CASCADE`.
    pub fn except<I, S>(mut self, tables: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.except.extend(tables.into_iter().map(Into::into));
        self
    }
}

/// What one clean did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CleanReport {
    /// The strategy asked for.
    pub strategy: CleanStrategy,
    /// How many tables were in scope (selected, their partitions and children, and the tables
    /// that reference them).
    pub tables_considered: usize,
    /// The tables emptied with `DELETE`, quoted where needed (`public."Order"`).
    pub deleted: Vec<String>,
    /// The tables emptied with `TRUNCATE` (for the `Truncate` strategy: the tables named in
    /// the statement).
    pub truncated: Vec<String>,
    /// The sequences put back to their snapshot state (owned or not; not listed for
    /// `Truncate`, which restarts the owned ones).
    pub sequences_reset: Vec<String>,
    /// The tables restored from their snapshot copies (the missing rows put back, if any),
    /// and the materialized views refreshed back to their snapshot contents.
    pub restored: Vec<String>,
    /// Why the database could not be restored in place and must be replaced by a fresh
    /// clone (nothing was changed): a test ran DDL, the framework's objects are missing, …
    /// `None` after a restore.
    pub replace: Option<String>,
    /// Why a slower mechanism than the one asked for was used, if it was.
    pub fallback: Option<String>,
    /// How long the clean took, round trips included.
    pub duration: Duration,
}

impl CleanReport {
    /// How many tables were emptied (deleted from or truncated).
    pub fn tables_emptied(&self) -> usize {
        self.deleted.len() + self.truncated.len()
    }
}

/// Prepares a database for restoring, after migrations and seed ran: installs the `_fixtures`
/// schema, the tracking triggers and the cleaning function, and takes the snapshot every
/// clean restores. One round trip and one transaction.
///
/// Idempotent: when this version is installed already, it only re-arms (settings, triggers
/// on new tables) and takes the snapshot again. Does nothing for `Truncate` and `None`.
/// A role that may not create the schema is logged, and `Auto` / `Delete` then fall back to
/// `Truncate`.
///
/// # Errors
///
/// The server's error, other than a missing privilege.
pub(crate) async fn prepare(
    conn: &mut PgConnection,
    opts: &CleanOptions,
) -> Result<(), sqlx::Error> {
    if sql::mode(opts.strategy).is_none() {
        return Ok(());
    }
    if !install(conn, opts.strategy == CleanStrategy::Auto).await? {
        tracing::warn!(
            "this role may not create the `_fixtures` schema: the `{:?}` clean falls back to \
             TRUNCATE of every table",
            opts.strategy
        );
    }
    Ok(())
}

/// Runs the install script; false when the role lacks the privilege.
async fn install(conn: &mut PgConnection, track: bool) -> Result<bool, sqlx::Error> {
    let script = install::prepare_script(track);
    match crate::sql::run(conn, script).await {
        Ok(()) => Ok(true),
        Err(e) if sql::is_privilege(code(&e).as_deref()) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Restores the database to its snapshot (`Auto`, `Delete`: one round trip), or empties it
/// as `TRUNCATE <selected tables> RESTART IDENTITY CASCADE` would (`Truncate`); see the
/// [module docs](self). When `Auto` / `Delete` cannot restore in place (or `prepare` has
/// not run) nothing is changed and [`CleanReport::replace`] says why.
///
/// # Errors
///
/// The server's error (a lock that cannot be taken, a connection that broke). Run it outside a
/// transaction: `TRUNCATE` takes locks until the transaction ends.
pub(crate) async fn clean(
    conn: &mut PgConnection,
    opts: &CleanOptions,
) -> Result<CleanReport, sqlx::Error> {
    let started = Instant::now();
    let mut report = match sql::mode(opts.strategy) {
        None if opts.strategy == CleanStrategy::None => CleanReport::default(),
        None => truncate_literally(conn, opts).await?,
        Some(mode) => match call_clean(conn, mode, opts).await {
            // Installing now would take the test's rows for the template's.
            Err(e) if sql::is_not_installed(code(&e).as_deref()) => CleanReport {
                replace: Some(
                    "the framework's `_fixtures` objects are missing (never prepared, or \
                     dropped by a test)"
                        .into(),
                ),
                ..CleanReport::default()
            },
            other => other?,
        },
    };
    report.strategy = opts.strategy;
    report.duration = started.elapsed();
    Ok(report)
}

/// One call of `_fixtures.clean`.
async fn call_clean(
    conn: &mut PgConnection,
    mode: &'static str,
    opts: &CleanOptions,
) -> Result<CleanReport, sqlx::Error> {
    type Row = (
        i32,
        Vec<String>,
        Vec<String>,
        Vec<String>,
        Option<String>,
        Vec<String>,
        Option<String>,
    );
    let (considered, deleted, truncated, sequences, note, restored, replace): Row =
        sqlx::query_as(sql::CALL_CLEAN)
            .bind(mode)
            .bind(opts.only.as_slice())
            .bind(opts.except.as_slice())
            .fetch_one(conn)
            .await?;
    Ok(CleanReport {
        tables_considered: usize::try_from(considered).unwrap_or_default(),
        deleted,
        truncated,
        sequences_reset: sequences,
        restored,
        replace,
        fallback: note,
        ..CleanReport::default()
    })
}

/// The `Truncate` strategy: the tables from the catalog, then one `TRUNCATE`.
async fn truncate_literally(
    conn: &mut PgConnection,
    opts: &CleanOptions,
) -> Result<CleanReport, sqlx::Error> {
    let (tables, names): (Vec<_>, Vec<_>) =
        catalog::user_tables_named(conn, &opts.only, &opts.except)
            .await?
            .into_iter()
            .unzip();
    if let Some(statement) = sql::truncate_all(&tables) {
        crate::sql::run(conn, statement).await?;
    }
    Ok(CleanReport {
        tables_considered: tables.len(),
        truncated: names,
        ..CleanReport::default()
    })
}

fn code(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// Not public API: the crate-internal entry points, for this crate's behaviour tests and
/// benchmarks. May change at any time.
#[doc(hidden)]
pub mod __private {
    use super::*;

    /// The crate-internal `clean::prepare`.
    pub async fn prepare(conn: &mut PgConnection, opts: &CleanOptions) -> Result<(), sqlx::Error> {
        super::prepare(conn, opts).await
    }

    /// The crate-internal `clean::clean`.
    pub async fn clean(
        conn: &mut PgConnection,
        opts: &CleanOptions,
    ) -> Result<CleanReport, sqlx::Error> {
        super::clean(conn, opts).await
    }

    /// The crate-internal `catalog::user_tables`.
    pub async fn user_tables(
        conn: &mut PgConnection,
        opts: &CleanOptions,
    ) -> Result<Vec<catalog::TableRef>, sqlx::Error> {
        catalog::user_tables(conn, &opts.only, &opts.except).await
    }
}
