//! What both test binaries share: the database fixtures of every scope (the app's own SQL
//! migrations run by tokio-postgres once per template, through `migrate_with`), `TestStore` —
//! the store on a test's database — and the test bodies.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Deref;

use fixtures_postgres::fixtures_core::{BoxError, Fixture};
use fixtures_postgres::Lease;
use fixtures_postgres::{ConnectParts, Databases, TestDb, databases};
use tasks_nosqlx::{MIGRATIONS, Store, Task};
use tokio_postgres::NoTls;

/// What the migrations apply, as the template's key: the latest version and a digest of every
/// migration's SQL, so that a new or an edited migration makes a new template.
fn migrations_version() -> String {
    let latest = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    let mut digest = DefaultHasher::new();
    for m in MIGRATIONS {
        (m.version, m.sql).hash(&mut digest);
    }
    format!("tasks-nosqlx-v{latest}-{:016x}", digest.finish())
}

/// The app's own migration code, as its `main` runs it: tokio-postgres, given the template's URL.
async fn migrate(parts: ConnectParts) -> Result<(), BoxError> {
    let (mut client, connection) = tokio_postgres::connect(&parts.url, NoTls).await?;
    let connection = tokio::spawn(connection);
    tasks_nosqlx::migrate(&mut client).await?;
    drop(client);
    connection.await??;
    Ok(())
}

databases!(
    /// The app's databases: its migrations (the second inserts the first task), applied once
    /// into a template.
    pub mod pg = Databases::new().migrate_with(migrations_version(), migrate)
);

/// The task every database starts with (inserted by a migration).
pub fn first_task() -> Task {
    Task {
        id: 1,
        title: "Read the README".into(),
        done: false,
    }
}

/// The store on a test's database; the lease keeps the database the test's until the
/// `TestStore` is dropped.
#[derive(Debug)]
pub struct TestStore {
    /// The store, on its own client.
    pub store: Store,
    /// The test's database; dropped after the store's client.
    pub db: Lease<TestDb>,
}

impl Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

/// Leases a database from one of the `db` fixtures — `spawn_store(db::fixture())` with the
/// scope's `db` in scope — and opens the store on it, connecting with the database's parts
/// (host, port, user, password, database), as an app's settings would.
///
/// # Panics
///
/// With the fixture's setup error, so that the test fails with it.
#[allow(dead_code)] // tests/rstest_suite.rs receives its database from rstest
pub async fn spawn_store(db: &'static Fixture<TestDb>) -> TestStore {
    let db = db.lease_async().await.unwrap_or_else(|e| panic!("{e}"));
    let parts = db.parts();
    let mut config = tokio_postgres::Config::new();
    config
        .host(&parts.host)
        .port(parts.port)
        .user(&parts.user)
        .password(&parts.password)
        .dbname(&parts.database);
    let (client, connection) = config.connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    TestStore {
        store: Store::new(client),
        db,
    }
}

/// Opens the store on a database rstest gave, connecting with its URL.
#[allow(dead_code)] // tests/helper.rs connects with the parts
pub async fn open_store(db: Lease<TestDb>) -> TestStore {
    let (client, connection) = tokio_postgres::connect(db.url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    TestStore {
        store: Store::new(client),
        db,
    }
}

impl TestStore {
    /// Fails the test unless the store shows the template's state: the first task alone, and
    /// nothing a test before this one wrote.
    pub async fn assert_template_state(&self) {
        assert_eq!(
            self.tasks().await.unwrap(),
            [first_task()],
            "database {} does not start from the template",
            self.db.name()
        );
    }
}

/// The test bodies, the same in every scope and both suites: each checks that it starts from
/// the template, then writes in its own way, so that the test after it in a shared database
/// finds out if the database was not brought back.
pub mod cases {
    use super::*;

    /// New tasks are numbered after the first one, whatever the tests before added.
    pub async fn adds_tasks(s: &TestStore) {
        s.assert_template_state().await;
        let a = s.add("water the plants").await.unwrap();
        let b = s.add("call the plumber").await.unwrap();
        assert_eq!((a.id, b.id), (2, 3));
        assert_eq!(s.tasks().await.unwrap().len(), 3);
    }

    /// Removing the first task does not remove it for the next test.
    pub async fn removes_the_first_task(s: &TestStore) {
        s.assert_template_state().await;
        assert!(s.remove(1).await.unwrap());
        assert!(!s.remove(1).await.unwrap());
        assert!(s.tasks().await.unwrap().is_empty());
        assert_eq!(s.add("a fresh start").await.unwrap().id, 2);
    }

    /// Finishing the first task, and a refused duplicate that still takes an id, are undone.
    pub async fn finishes_the_first_task(s: &TestStore) {
        s.assert_template_state().await;
        assert!(s.finish(1).await.unwrap());
        assert!(!s.finish(99).await.unwrap());
        // A duplicate title is refused after the identity was taken: id 2 is gone.
        assert!(s.add("Read the README").await.is_err());
        assert_eq!(s.add("after the refused one").await.unwrap().id, 3);
        assert!(s.tasks().await.unwrap()[0].done);
    }
}
