//! What every test binary shares: [`TestApp`] — the app served on a test's database, with an
//! HTTP client and a pool for direct checks — and the 50 test bodies ([`bodies`]).
//!
//! How the test's database is made is the helper's business: `tests/handwritten.rs` creates and
//! migrates one per test, `tests/ours/mod.rs` leases one from the framework.

pub mod bodies;

use std::any::Any;

use realapp::DatabaseSettings;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

/// The app, served on a test's database, and what a test needs to drive it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A client for its API.
    pub client: reqwest::Client,
    /// A pool on the test's database, for checks and changes behind the API's back.
    pub db_pool: PgPool,
    server: tokio::task::JoinHandle<()>,
    /// What keeps the database the test's while the app uses it (the framework's lease);
    /// dropped after the server is stopped.
    _database: Box<dyn Any + Send>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct User {
    /// Their id.
    pub id: i64,
    /// Their email.
    pub email: String,
    /// Their session token.
    pub token: String,
    /// Their personal organisation.
    pub organisation: i64,
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Serves the app on the database `settings` name, built as its `main` builds it (its own
    /// pool from the settings); `database` is kept until the app is dropped.
    pub async fn serve(
        settings: DatabaseSettings,
        db_pool: PgPool,
        database: impl Any + Send,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let app = realapp::build_app(settings.pool());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestApp {
            address,
            client: reqwest::Client::new(),
            db_pool,
            server,
            _database: Box::new(database),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    fn with_token(req: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// `GET path`, with `token` as the bearer when given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let req = Self::with_token(self.client.get(self.url(path)), token);
        req.send().await.expect("GET")
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        let req = Self::with_token(self.client.post(self.url(path)), token);
        req.json(&body).send().await.expect("POST")
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let req = Self::with_token(self.client.delete(self.url(path)), token);
        req.send().await.expect("DELETE")
    }

    /// `GET path` answered with 200: its JSON.
    pub async fn get_ok(&self, path: &str, token: &str) -> Value {
        let answer = self.get(path, Some(token)).await;
        assert_eq!(answer.status(), StatusCode::OK, "GET {path}");
        answer.json().await.unwrap()
    }

    /// `POST path` answered with `expected`: its JSON (null when it has none).
    pub async fn post_expect(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
        expected: StatusCode,
    ) -> Value {
        let answer = self.post(path, token, body).await;
        let status = answer.status();
        let text = answer.text().await.unwrap();
        assert_eq!(status, expected, "POST {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// `POST /users`.
    pub async fn register(&self, email: &str, name: &str, password: &str) -> Response {
        let body = json!({ "email": email, "name": name, "password": password });
        self.post("/users", None, body).await
    }

    /// `POST /sessions`.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        let body = json!({ "email": email, "password": password });
        self.post("/sessions", None, body).await
    }

    /// `POST /sessions` that must succeed: the token.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let answer = self.login(email, password).await;
        assert_eq!(answer.status(), StatusCode::CREATED, "login as {email}");
        let session: Value = answer.json().await.unwrap();
        session["token"].as_str().unwrap().to_owned()
    }

    /// Registers `name` (`<name>@example.com`), logs them in and finds their organisation.
    pub async fn sign_up(&self, name: &str) -> User {
        let email = format!("{name}@example.com");
        let answer = self.register(&email, name, PASSWORD).await;
        assert_eq!(answer.status(), StatusCode::CREATED, "register {email}");
        let registered: Value = answer.json().await.unwrap();
        let token = self.token(&email, PASSWORD).await;
        let me = self.get_ok("/me", &token).await;
        User {
            id: registered["id"].as_i64().unwrap(),
            email,
            token,
            organisation: me["organisations"][0]["id"].as_i64().unwrap(),
        }
    }

    /// The demo user's token (seeded by the migrations).
    pub async fn demo(&self) -> String {
        self.token("demo@example.com", "demo-password").await
    }

    /// `POST /projects` in `organisation`, which must succeed: the project's id.
    pub async fn project(&self, user: &User, name: &str) -> i64 {
        let body = json!({ "organisation_id": user.organisation, "name": name });
        let project = self
            .post_expect("/projects", Some(&user.token), body, StatusCode::CREATED)
            .await;
        project["id"].as_i64().unwrap()
    }

    /// `POST /projects/{project}/tasks`, which must succeed: the task.
    pub async fn task(&self, token: &str, project: i64, title: &str, tags: &[&str]) -> Value {
        let path = format!("/projects/{project}/tasks");
        let body = json!({ "title": title, "tags": tags });
        self.post_expect(&path, Some(token), body, StatusCode::CREATED)
            .await
    }

    /// A number from the test's database.
    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.db_pool)
            .await
            .unwrap()
    }

    /// A statement on the test's database, behind the API's back.
    pub async fn execute(&self, sql: &'static str) {
        sqlx::query(sql).execute(&self.db_pool).await.unwrap();
    }
}
