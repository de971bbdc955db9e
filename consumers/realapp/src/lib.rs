//! A task tracker's web API, shaped like a real application: accounts whose passwords are
//! hashed with argon2 at its default cost, login sessions (bearer tokens), organisations and
//! their members, projects, tasks with tags and comments, an audit log and settings read from
//! the database. It is written as an application is, not for a test framework: its settings
//! are host, port, user, password and database, its pool is its own, its migrations are
//! embedded with `sqlx::migrate!`.
//!
//! | route | what |
//! |---|---|
//! | `GET /health` | the app and its database answer |
//! | `GET /settings` | the public settings |
//! | `POST /users` | register (hashes the password) |
//! | `POST /sessions`, `DELETE /sessions` | log in (verifies the password, returns a token), log out |
//! | `GET /me` | the caller and their organisations |
//! | `POST /organisations/{id}/members`, `GET /organisations/{id}/audit` | members, audit log (owners and admins) |
//! | `GET`/`POST /projects`, `GET /projects/{id}` | projects of the caller's organisations |
//! | `GET`/`POST /projects/{id}/tasks`, `POST /tasks/{id}/complete` | tasks |
//! | `GET`/`POST /tasks/{id}/comments` | comments |
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = realapp::DatabaseSettings {
//!     host: "localhost".into(),
//!     port: 5432,
//!     username: "app".into(),
//!     password: "secret".into(),
//!     database_name: "realapp".into(),
//! };
//! let pool = settings.pool();
//! realapp::MIGRATOR.run(&pool).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, realapp::build_app(pool)).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod accounts;
mod error;
mod organisations;
mod password;
mod projects;
mod tasks;

pub use accounts::CurrentUser;
pub use error::ApiError;
pub use password::{hash_password, verify_password};

/// The application's migrations (13, several of which insert seed rows), embedded at compile
/// time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Where the application's database is, as its configuration gives it.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// The server's host.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The user to log in as.
    pub username: String,
    /// Its password.
    pub password: String,
    /// The database.
    pub database_name: String,
}

impl DatabaseSettings {
    /// The settings a `postgres://user:password@host:port/database` URL gives (as platforms
    /// hand it over in `DATABASE_URL`); `None` when it is not one.
    pub fn from_url(database_url: &str) -> Option<DatabaseSettings> {
        let url = url::Url::parse(database_url).ok()?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return None;
        }
        Some(DatabaseSettings {
            host: url.host_str()?.to_owned(),
            port: url.port().unwrap_or(5432),
            username: percent_decode(url.username()),
            password: percent_decode(url.password().unwrap_or("")),
            database_name: percent_decode(url.path().trim_start_matches('/')),
        })
    }

    /// Connect options for the server's maintenance database (`postgres`), for creating
    /// databases.
    pub fn without_db(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.username)
            .password(&self.password)
            .database("postgres")
    }

    /// Connect options for the application's database.
    pub fn with_db(&self) -> PgConnectOptions {
        self.without_db().database(&self.database_name)
    }

    /// The application's pool, as its `main` builds it (it connects on first use).
    pub fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(self.with_db())
    }
}

/// `s` with its `%XX` escapes decoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What every handler is given.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The application's pool.
    pub pool: PgPool,
}

/// The application's routes on `pool`.
pub fn build_app(pool: PgPool) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/settings", get(accounts::public_settings))
        .route("/users", post(accounts::register))
        .route("/sessions", post(accounts::login).delete(accounts::logout))
        .route("/me", get(accounts::me))
        .route(
            "/organisations/{id}/members",
            post(organisations::add_member),
        )
        .route("/organisations/{id}/audit", get(organisations::audit_log))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{id}", get(projects::show))
        .route("/projects/{id}/tasks", get(tasks::list).post(tasks::create))
        .route("/tasks/{id}/complete", post(tasks::complete))
        .route(
            "/tasks/{id}/comments",
            get(tasks::comments).post(tasks::comment),
        )
        .with_state(AppState { pool })
}

/// The body of `GET /health`.
#[derive(Debug, serde::Serialize)]
struct HealthStatus {
    /// Always `ok`.
    status: &'static str,
}

/// `GET /health`: the database answers.
async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::Json<HealthStatus>, ApiError> {
    sqlx::query("SELECT 1").execute(&state.pool).await?;
    Ok(axum::Json(HealthStatus { status: "ok" }))
}

#[cfg(test)]
mod tests {
    use super::DatabaseSettings;

    #[test]
    fn settings_come_from_a_database_url() {
        let url = "postgres://app:s%40cret%2B1@10.0.0.2:5433/realapp";
        let s = DatabaseSettings::from_url(url).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("10.0.0.2", 5433));
        assert_eq!(
            (s.username.as_str(), s.password.as_str()),
            ("app", "s@cret+1")
        );
        assert_eq!(s.database_name, "realapp");
        assert!(DatabaseSettings::from_url("mysql://app@db/realapp").is_none());
    }
}
