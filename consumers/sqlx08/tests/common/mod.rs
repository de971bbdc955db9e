//! What both test binaries share: the database fixtures of every scope (the app's own sqlx 0.8
//! migrations run once per template through `migrate_with`), `TestApp` — the app served on a
//! test's database, with an HTTP client — and the test bodies, written against the HTTP API.

use std::net::SocketAddr;

use fixtures_core::{BoxError, Fixture, Lease};
use fixtures_postgres::{ConnectParts, Databases, TestDb, databases};
use notes_sqlx08::{MIGRATOR, NewNote, Note, Settings};
use reqwest::StatusCode;

/// What the app's migrations apply, as the template's key: the latest migration's version,
/// and every migration's checksum (sqlx computes them at compile time), so that a new or an
/// edited migration makes a new template.
fn migrations_version() -> String {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let sums: String = MIGRATOR
        .iter()
        .flat_map(|m| m.checksum.iter())
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("notes-sqlx08-{latest}-{sums}")
}

/// The app's own migration code, as its `main` runs it: sqlx 0.8, given the template's URL.
async fn migrate(parts: ConnectParts) -> Result<(), BoxError> {
    let pool = sqlx::PgPool::connect(&parts.url).await?;
    MIGRATOR.run(&pool).await?;
    pool.close().await;
    Ok(())
}

databases!(
    /// The app's databases: its migrations (the second inserts the welcome note), applied
    /// once into a template.
    pub mod pg = Databases::new().migrate_with(migrations_version(), migrate)
);

/// The welcome note every database starts with (inserted by a migration).
pub fn welcome() -> Note {
    Note {
        id: 1,
        title: "Welcome".into(),
        body: "Write your first note.".into(),
    }
}

/// The app, served on a test's database, and an HTTP client for it. The lease keeps the
/// database the test's until the `TestApp` is dropped.
#[derive(Debug)]
pub struct TestApp {
    /// Where the app listens.
    pub addr: SocketAddr,
    /// A client for its API.
    pub client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    /// The test's database; dropped after the server is stopped.
    pub db: Lease<TestDb>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Leases a database from one of the `db` fixtures — `spawn_app(db::fixture())` with the
/// scope's `db` in scope — and serves the app on it.
///
/// # Panics
///
/// With the fixture's setup error, so that the test fails with it.
#[allow(dead_code)] // tests/rstest_suite.rs receives its database from rstest
pub async fn spawn_app(db: &'static Fixture<TestDb>) -> TestApp {
    let db = db.lease_async().await.unwrap_or_else(|e| panic!("{e}"));
    TestApp::start(db).await
}

impl TestApp {
    /// Serves the app on `db`, configured as its `main` would be: settings from the database's
    /// connection parts (no URL to parse), the app's own sqlx 0.8 pool.
    pub async fn start(db: Lease<TestDb>) -> TestApp {
        let parts = db.parts();
        let settings = Settings {
            host: parts.host.clone(),
            port: parts.port,
            user: parts.user.clone(),
            password: parts.password.clone(),
            database: parts.database.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = notes_sqlx08::router(settings.pool());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestApp {
            addr,
            client: reqwest::Client::new(),
            server,
            db,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET /notes`.
    pub async fn notes(&self) -> Vec<Note> {
        let answer = self.client.get(self.url("/notes")).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        answer.json().await.unwrap()
    }

    /// `POST /notes`: the status and, when created, the note.
    pub async fn post(&self, title: &str, body: &str) -> (StatusCode, Option<Note>) {
        let new = NewNote {
            title: title.into(),
            body: body.into(),
        };
        let answer = self
            .client
            .post(self.url("/notes"))
            .json(&new)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let note = if status == StatusCode::CREATED {
            Some(answer.json().await.unwrap())
        } else {
            None
        };
        (status, note)
    }

    /// `POST /notes`, which must succeed.
    pub async fn create(&self, title: &str) -> Note {
        match self.post(title, "").await {
            (StatusCode::CREATED, Some(note)) => note,
            (status, _) => panic!("POST /notes {title:?}: {status}"),
        }
    }

    /// `PUT /notes/{id}`: the status.
    pub async fn replace(&self, id: i64, title: &str, body: &str) -> StatusCode {
        let new = NewNote {
            title: title.into(),
            body: body.into(),
        };
        let path = format!("/notes/{id}");
        let answer = self.client.put(self.url(&path)).json(&new).send().await;
        answer.unwrap().status()
    }

    /// `DELETE /notes/{id}`: the status.
    pub async fn delete(&self, id: i64) -> StatusCode {
        let path = format!("/notes/{id}");
        self.client
            .delete(self.url(&path))
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Fails the test unless the API shows the template's state: the welcome note alone, and
    /// nothing a test before this one wrote.
    pub async fn assert_template_state(&self) {
        assert_eq!(
            self.notes().await,
            [welcome()],
            "database {} does not start from the template",
            self.db.name()
        );
    }
}

/// The test bodies, the same in every scope and both suites: each checks that it starts from
/// the template, then writes through the API in its own way, so that the test after it in a
/// shared database finds out if the database was not brought back.
pub mod cases {
    use super::*;

    /// New notes are numbered after the welcome note, whatever the tests before created.
    pub async fn creates_notes(app: &TestApp) {
        app.assert_template_state().await;
        let first = app.create("groceries").await;
        let second = app.create("books").await;
        assert_eq!((first.id, second.id), (2, 3));
        assert_eq!(app.notes().await.len(), 3);
    }

    /// Deleting the welcome note does not delete it for the next test.
    pub async fn deletes_the_welcome_note(app: &TestApp) {
        app.assert_template_state().await;
        assert_eq!(app.delete(1).await, StatusCode::NO_CONTENT);
        assert_eq!(app.delete(1).await, StatusCode::NOT_FOUND);
        assert!(app.notes().await.is_empty());
        assert_eq!(app.create("a fresh start").await.id, 2);
    }

    /// Editing the welcome note, and a rejected note that still takes an id, are undone.
    pub async fn edits_the_welcome_note(app: &TestApp) {
        app.assert_template_state().await;
        assert_eq!(app.replace(1, "Hello", "edited").await, StatusCode::OK);
        assert_eq!(app.replace(99, "Nobody", "").await, StatusCode::NOT_FOUND);
        // An empty title breaks a check after the identity was taken: id 2 is gone.
        assert_eq!(
            app.post("", "no title").await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(app.create("after the rejected one").await.id, 3);
        assert_eq!(app.notes().await[0].title, "Hello");
    }
}
