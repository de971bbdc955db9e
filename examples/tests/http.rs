//! A web application's API suite, written the way most are: one `spawn_app()` helper that every
//! plain `#[tokio::test]` calls, which leases a database of the module's scope, serves the
//! task tracker's HTTP API on it, and keeps the lease for as long as the app runs. One module
//! per scope; the modules differ by one line, the `use` of their `db` fixture. Every test
//! starts from the template (no organisation, every identity at 1), whatever ran before.
//!
//! The HTTP layer lives here (the task tracker's library has none): a few axum routes over
//! [`examples::Repo`]. The client is a few lines of HTTP/1.1 over a socket; a project of
//! yours would use its usual client (reqwest, ...).

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use examples::{AppError, Repo};
use fixtures_core::{Fixture, Lease};
use fixtures_postgres::{Databases, TestDb, databases};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

databases!(
    /// The task tracker's databases: its migrations, applied once into a template.
    pub mod pg = Databases::new().migrator(&examples::MIGRATOR)
);

/// The API: sign an organisation up with its owner, list its members, add projects and tasks.
fn router(repo: Repo) -> Router {
    Router::new()
        .route("/organisations", post(sign_up))
        .route("/organisations/{id}/members", get(members))
        .route("/organisations/{id}/projects", post(create_project))
        .route("/projects/{id}/tasks", post(create_task))
        .with_state(repo)
}

type Answer = Result<(StatusCode, Json<Value>), (StatusCode, String)>;

fn failed(e: AppError) -> (StatusCode, String) {
    match e {
        AppError::NotMember { .. } => (StatusCode::FORBIDDEN, e.to_string()),
        e => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn field<'a>(body: &'a Value, name: &str) -> Result<&'a str, (StatusCode, String)> {
    body[name].as_str().ok_or((
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("`{name}` is missing"),
    ))
}

async fn sign_up(State(repo): State<Repo>, Json(body): Json<Value>) -> Answer {
    let org = repo
        .create_organisation(field(&body, "slug")?, field(&body, "name")?)
        .await
        .map_err(failed)?;
    let owner = repo
        .create_user(field(&body, "owner")?, "Owner")
        .await
        .map_err(failed)?;
    repo.add_member(org.id, owner.id, "owner")
        .await
        .map_err(failed)?;
    let created = json!({ "id": org.id, "slug": org.slug, "owner_id": owner.id });
    Ok((StatusCode::CREATED, Json(created)))
}

async fn members(State(repo): State<Repo>, Path(id): Path<i64>) -> Answer {
    let emails = repo.members(id).await.map_err(failed)?;
    Ok((StatusCode::OK, Json(json!(emails))))
}

async fn create_project(
    State(repo): State<Repo>,
    Path(id): Path<i64>,
    Json(body): Json<Value>,
) -> Answer {
    let project = repo
        .create_project(id, field(&body, "key")?, field(&body, "name")?)
        .await
        .map_err(failed)?;
    let created = json!({ "id": project.id, "key": project.key });
    Ok((StatusCode::CREATED, Json(created)))
}

async fn create_task(
    State(repo): State<Repo>,
    Path(id): Path<i64>,
    Json(body): Json<Value>,
) -> Answer {
    let by = body["by"]
        .as_i64()
        .ok_or((StatusCode::UNPROCESSABLE_ENTITY, "`by` is missing".into()))?;
    let task = repo
        .create_task(id, field(&body, "title")?, by)
        .await
        .map_err(failed)?;
    let created = json!({ "id": task.id, "key": task.key });
    Ok((StatusCode::CREATED, Json(created)))
}

/// The app, served on a test's database. The lease keeps the database the test's until the
/// `TestApp` is dropped (after the server is stopped).
#[derive(Debug)]
pub struct TestApp {
    /// Where the app listens.
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
    /// The test's database.
    pub db: Lease<TestDb>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Leases a database from one of the `db` fixtures — `spawn_app(db::fixture())` with the
/// scope's `db` in scope — and serves the app on it, on the test's runtime.
///
/// # Panics
///
/// With the fixture's setup error, so that the test fails with it.
pub async fn spawn_app(db: &'static Fixture<TestDb>) -> TestApp {
    let db = db.lease_async().await.unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(Repo::new(db.pool()));
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestApp { addr, server, db }
}

impl TestApp {
    /// One request, on a connection of its own: the status and the JSON answer (`null` when
    /// empty, a string when not JSON).
    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let mut socket = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).await.unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let value = match body {
            "" => Value::Null,
            body => serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.into())),
        };
        (status, value)
    }

    /// `POST path` with `body`, which must answer 201 Created: the answer.
    async fn create(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.request("POST", path, Some(body)).await;
        assert_eq!(status, 201, "POST {path}: {answer}");
        answer
    }

    /// Signs an organisation up: its id and its owner's.
    async fn sign_up(&self, slug: &str, owner: &str) -> (i64, i64) {
        let body = json!({ "slug": slug, "name": slug, "owner": owner });
        let org = self.create("/organisations", body).await;
        (
            org["id"].as_i64().unwrap(),
            org["owner_id"].as_i64().unwrap(),
        )
    }

    /// Fails the test unless the database is the template's: no organisation, no user.
    async fn assert_template_state(&self) {
        let counts: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM organisations), (SELECT count(*) FROM users)",
        )
        .fetch_one(&self.db.pool())
        .await
        .unwrap();
        assert_eq!(counts, (0, 0), "{} is not the template", self.db.name());
    }
}

/// The test bodies, the same in every scope: each checks that it starts from the template,
/// then writes through the API in its own way.
mod cases {
    use super::*;

    /// The first organisation and its owner are number 1, whatever the tests before made.
    pub async fn signs_up_an_organisation(app: &TestApp) {
        app.assert_template_state().await;
        assert_eq!(app.sign_up("acme", "ada@acme.test").await, (1, 1));
        let (status, members) = app.request("GET", "/organisations/1/members", None).await;
        assert_eq!((status, members), (200, json!(["ada@acme.test"])));
    }

    /// Tasks are numbered per project from 1.
    pub async fn numbers_tasks_per_project(app: &TestApp) {
        app.assert_template_state().await;
        let (org, owner) = app.sign_up("acme", "ada@acme.test").await;
        let project = app
            .create(
                &format!("/organisations/{org}/projects"),
                json!({ "key": "WEB", "name": "Website" }),
            )
            .await;
        assert_eq!(project["id"], 1);
        let mut keys = Vec::new();
        for title in ["design", "build"] {
            let task = app
                .create("/projects/1/tasks", json!({ "title": title, "by": owner }))
                .await;
            keys.push(task["key"].as_str().unwrap().to_owned());
        }
        assert_eq!(keys, ["WEB-1", "WEB-2"]);
    }

    /// Someone else's owner may not add tasks: 403.
    pub async fn refuses_non_members(app: &TestApp) {
        app.assert_template_state().await;
        assert_eq!(app.sign_up("acme", "ada@acme.test").await, (1, 1));
        assert_eq!(app.sign_up("globex", "hank@globex.test").await, (2, 2));
        let body = json!({ "key": "WEB", "name": "Website" });
        app.create("/organisations/1/projects", body).await;
        let task = json!({ "title": "sneak in", "by": 2 });
        let (status, _) = app.request("POST", "/projects/1/tasks", Some(task)).await;
        assert_eq!(status, 403);
    }
}

/// The tests of one scope's module, on the `db` fixture imported where it is invoked.
macro_rules! http_tests {
    () => {
        use crate::{cases, spawn_app};

        #[tokio::test]
        async fn signs_up_an_organisation() {
            cases::signs_up_an_organisation(&spawn_app(db::fixture()).await).await;
        }

        #[tokio::test]
        async fn numbers_tasks_per_project() {
            cases::numbers_tasks_per_project(&spawn_app(db::fixture()).await).await;
        }

        #[tokio::test]
        async fn refuses_non_members() {
            cases::refuses_non_members(&spawn_app(db::fixture()).await).await;
        }
    };
}

/// A fresh clone of the template per test (the cleanest).
mod test_scope {
    use crate::pg::test_scope::db;
    http_tests!();
}

/// The module's shared database, brought back to the template before each test.
mod module_scope {
    use crate::pg::module_scope::db;
    http_tests!();
}

/// The run's shared database, brought back to the template before each test (the fastest).
mod suite_scope {
    use crate::pg::suite_scope::db;
    http_tests!();
}
