//! A small notes web API — `GET`/`POST /notes`, `PUT`/`DELETE /notes/{id}` — on axum and
//! **sqlx 0.8**, with its own migrations (the second inserts the welcome note). It is written
//! as an application is, not for the fixtures framework: its settings are host, port, user,
//! password and database, and its pool is its own.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = notes_sqlx08::Settings {
//!     host: "localhost".into(),
//!     port: 5432,
//!     user: "notes".into(),
//!     password: "secret".into(),
//!     database: "notes".into(),
//! };
//! let pool = settings.pool();
//! notes_sqlx08::MIGRATOR.run(&pool).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, notes_sqlx08::router(pool)).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The application's migrations (sqlx 0.8), embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Where the application's database is, as its configuration gives it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server's host.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    /// Its password.
    pub password: String,
    /// The database.
    pub database: String,
}

impl Settings {
    /// The connect options these settings describe.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .password(&self.password)
            .database(&self.database)
    }

    /// The application's pool (it connects on first use).
    pub fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(5)
            .connect_lazy_with(self.connect_options())
    }
}

/// A note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Note {
    /// Its identity.
    pub id: i64,
    /// Its title (not empty).
    pub title: String,
    /// Its text.
    pub body: String,
}

/// What a client sends to create or replace a note.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewNote {
    /// Its title (not empty).
    pub title: String,
    /// Its text.
    #[serde(default)]
    pub body: String,
}

/// The API's routes on `pool`.
pub fn router(pool: PgPool) -> Router {
    Router::new()
        .route("/notes", get(list).post(create))
        .route("/notes/{id}", put(replace).delete(remove))
        .with_state(pool)
}

/// A database error as the API answers it: a broken constraint is the client's fault.
fn failed(e: sqlx::Error) -> (StatusCode, String) {
    match &e {
        sqlx::Error::Database(d) if d.is_check_violation() => {
            (StatusCode::UNPROCESSABLE_ENTITY, d.message().to_owned())
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

type Answer<T> = Result<T, (StatusCode, String)>;

async fn list(State(pool): State<PgPool>) -> Answer<Json<Vec<Note>>> {
    sqlx::query_as("SELECT id, title, body FROM notes ORDER BY id")
        .fetch_all(&pool)
        .await
        .map(Json)
        .map_err(failed)
}

async fn create(
    State(pool): State<PgPool>,
    Json(new): Json<NewNote>,
) -> Answer<(StatusCode, Json<Note>)> {
    sqlx::query_as("INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING id, title, body")
        .bind(&new.title)
        .bind(&new.body)
        .fetch_one(&pool)
        .await
        .map(|note| (StatusCode::CREATED, Json(note)))
        .map_err(failed)
}

async fn replace(
    State(pool): State<PgPool>,
    Path(id): Path<i64>,
    Json(new): Json<NewNote>,
) -> Answer<Json<Note>> {
    sqlx::query_as("UPDATE notes SET title = $2, body = $3 WHERE id = $1 RETURNING id, title, body")
        .bind(id)
        .bind(&new.title)
        .bind(&new.body)
        .fetch_optional(&pool)
        .await
        .map_err(failed)?
        .map(Json)
        .ok_or((StatusCode::NOT_FOUND, format!("no note {id}")))
}

async fn remove(State(pool): State<PgPool>, Path(id): Path<i64>) -> Answer<StatusCode> {
    let done = sqlx::query("DELETE FROM notes WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .map_err(failed)?;
    Ok(if done.rows_affected() == 1 {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    })
}
