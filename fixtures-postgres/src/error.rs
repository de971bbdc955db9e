//! The one error type of fixtures-postgres.

use std::path::PathBuf;

/// Everything that can go wrong with a test server or a test database.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No backend could provide a server.
    #[error("no Postgres server for the tests: {reason}; hint: {hint}")]
    NoBackend {
        /// Why.
        reason: String,
        /// What to do.
        hint: String,
    },
    /// A setting (environment variable or option) has a value that cannot be used.
    #[error("{setting}={value:?} is not valid: {expected}")]
    Config {
        /// The setting.
        setting: String,
        /// Its value.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// The local backend could not run `initdb` / `postgres`.
    #[error("local Postgres server: {step} failed: {detail}")]
    LocalServer {
        /// Which step (find binaries, initdb, start, ...).
        step: &'static str,
        /// What went wrong, with the server's output when there is some.
        detail: String,
    },
    /// The skip switch (`FIXTURES_SKIP`) is on: no server is started or connected to.
    #[error(transparent)]
    SkipSwitch(#[from] fixtures_core::SkipSwitch),
    /// The Docker backend failed.
    #[error("starting the Postgres container")]
    Docker(#[from] fixtures_docker::Error),
    /// The server did not accept connections in time.
    #[error("Postgres at {address} did not accept connections within {waited:?}: {last_error}")]
    NotReady {
        /// Where.
        address: String,
        /// How long we waited.
        waited: std::time::Duration,
        /// The last connection error.
        last_error: String,
    },
    /// A statement failed.
    #[error("{action} on database `{database}`: {source}")]
    Sql {
        /// What was being done.
        action: String,
        /// On which database.
        database: String,
        /// The server's error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migration {version} ({file}) failed on database `{database}`: {message}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// Its file / description.
        file: String,
        /// The template or database it ran on.
        database: String,
        /// The server's message.
        message: String,
    },
    /// The migration code given to [`Databases::migrate_with`](crate::Databases::migrate_with)
    /// failed.
    #[error(
        "your migrate_with code (version {version:?}) failed on template database `{database}`: \
         {message}\n  hint: the template is left unfinished and rebuilt by the next run; fix the \
         migration and re-run"
    )]
    MigrateHook {
        /// The version string it was given with.
        version: String,
        /// The template database.
        database: String,
        /// Its error, with causes.
        message: String,
    },
    /// Migrations could not be read.
    #[error("cannot read migrations from {path}: {message}")]
    MigrationSource {
        /// The folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A seed SQL file failed.
    #[error("seed file {file} failed on database `{database}`: {message}")]
    Seed {
        /// The file.
        file: PathBuf,
        /// The database.
        database: String,
        /// The server's message.
        message: String,
    },
    /// The framework refuses to clean or drop a database it did not create.
    #[error(
        "refusing to {action} database `{database}`: it does not carry the fixtures mark, so it \
         was not created by this framework (nothing was touched); hint: point the tests at a \
         server or database of their own"
    )]
    NotOurs {
        /// Clean or drop.
        action: &'static str,
        /// The database.
        database: String,
    },
    /// A shared database could not be given the template's state (the snapshot of the
    /// template could not be taken, or a replacement failed).
    #[error(
        "cannot restore shared database `{database}` to the template's state: {message}\n  \
         hint: module and suite scope need the right to create a schema in the databases the \
         framework creates (it owns them); or use test scope (a fresh clone per test)"
    )]
    Restore {
        /// The database.
        database: String,
        /// What failed.
        message: String,
    },
    /// The connection budget (see `FIXTURES_PG_BUDGET`) had no room for a process or a test
    /// within `FIXTURES_PG_BUDGET_WAIT`.
    #[error(
        "{what} needs {needs} connections of the server's connection budget ({budget}, shared \
         by every test process of every run on the server) and waited {waited:?} without \
         finding them free\n  hint: run fewer tests at once (--test-threads, nextest -j), \
         lower FIXTURES_PG_POOL_MAX (each test's pool), raise the server's max_connections \
         (FIXTURES_PG_MAX_CONNECTIONS for a server the framework starts) or \
         FIXTURES_PG_BUDGET_WAIT; FIXTURES_PG_BUDGET sets the budget (off: none)"
    )]
    Budget {
        /// What waited (a test, a shared database's lane, a process).
        what: String,
        /// How many connections it needed.
        needs: u32,
        /// The budget, in connections.
        budget: u32,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// Waiting for the turn on a shared database took too long.
    #[error("waited {waited:?} for the turn on shared database `{database}`")]
    TurnTimeout {
        /// The database.
        database: String,
        /// How long.
        waited: std::time::Duration,
    },
}

/// As `{}` shows it, with its causes: what `.expect()` and `unwrap()` print is readable, not a
/// struct dump.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fixtures_core::fmt_error_chain(self, f)
    }
}

impl Error {
    pub(crate) fn sql(
        action: impl Into<String>,
        database: impl Into<String>,
    ) -> impl FnOnce(sqlx::Error) -> Error {
        let (action, database) = (action.into(), database.into());
        move |source| Error::Sql {
            action,
            database,
            source,
        }
    }
}
