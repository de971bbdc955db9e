//! A task list on **tokio-postgres**, without sqlx: a [`Store`] on one client, and
//! [`migrate`], which applies the plain SQL files of `migrations/` (embedded at compile time)
//! that a database has not had yet, recording them in `schema_migrations`. The second
//! migration inserts the first task.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tokio_postgres::Error> {
//! let (mut client, connection) =
//!     tokio_postgres::connect("host=localhost user=tasks dbname=tasks", tokio_postgres::NoTls)
//!         .await?;
//! tokio::spawn(connection);
//! tasks_nosqlx::migrate(&mut client).await?;
//! let store = tasks_nosqlx::Store::new(client);
//! let task = store.add("water the plants").await?;
//! assert!(store.finish(task.id).await?);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use tokio_postgres::{Client, Error, Row};

/// One migration: its version and its SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its version (migrations run in this order, each once).
    pub version: i64,
    /// What it does, from its file name.
    pub name: &'static str,
    /// Its SQL (one or more statements).
    pub sql: &'static str,
}

/// The application's migrations, from `migrations/`, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tasks",
        sql: include_str!("../migrations/V1__tasks.sql"),
    },
    Migration {
        version: 2,
        name: "first_task",
        sql: include_str!("../migrations/V2__first_task.sql"),
    },
];

/// Applies the migrations the database has not had, each in a transaction of its own with its
/// record in `schema_migrations`; gives how many it applied.
///
/// # Errors
///
/// The first failing statement's; the migrations before it stay applied.
pub async fn migrate(client: &mut Client) -> Result<usize, Error> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version bigint PRIMARY KEY,
                 name    text NOT NULL,
                 applied timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let mut applied = 0;
    for m in MIGRATIONS {
        let tx = client.transaction().await?;
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&m.version],
            )
            .await?;
        if done.is_none() {
            tx.batch_execute(m.sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&m.version, &m.name],
            )
            .await?;
            applied += 1;
        }
        tx.commit().await?;
    }
    Ok(applied)
}

/// A task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Its identity.
    pub id: i64,
    /// Its title (unique).
    pub title: String,
    /// Whether it is done.
    pub done: bool,
}

impl From<Row> for Task {
    fn from(row: Row) -> Task {
        Task {
            id: row.get("id"),
            title: row.get("title"),
            done: row.get("done"),
        }
    }
}

/// The task list, on one client.
#[derive(Debug)]
pub struct Store {
    client: Client,
}

impl Store {
    /// The task list on `client`.
    pub fn new(client: Client) -> Store {
        Store { client }
    }

    /// Its client (for what the store does not offer).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every task, by identity.
    pub async fn tasks(&self) -> Result<Vec<Task>, Error> {
        let rows = self
            .client
            .query("SELECT id, title, done FROM tasks ORDER BY id", &[])
            .await?;
        Ok(rows.into_iter().map(Task::from).collect())
    }

    /// Adds a task (not done); fails when one of that title exists.
    pub async fn add(&self, title: &str) -> Result<Task, Error> {
        self.client
            .query_one(
                "INSERT INTO tasks (title) VALUES ($1) RETURNING id, title, done",
                &[&title],
            )
            .await
            .map(Task::from)
    }

    /// Marks a task done; false when there is none.
    pub async fn finish(&self, id: i64) -> Result<bool, Error> {
        let n = self
            .client
            .execute("UPDATE tasks SET done = true WHERE id = $1", &[&id])
            .await?;
        Ok(n == 1)
    }

    /// Removes a task; false when there is none.
    pub async fn remove(&self, id: i64) -> Result<bool, Error> {
        let n = self
            .client
            .execute("DELETE FROM tasks WHERE id = $1", &[&id])
            .await?;
        Ok(n == 1)
    }
}
