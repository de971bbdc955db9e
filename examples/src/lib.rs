//! A small multi-tenant task tracker — organisations, users, projects, tasks, comments, tags,
//! an audit log — on Postgres through sqlx: the application whose test suite (in `tests/`)
//! shows the fixtures framework in every scope.
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), examples::AppError> {
//! use examples::{Repo, TaskStatus};
//!
//! let repo = Repo::new(pool);
//! let org = repo.create_organisation("acme", "Acme").await?;
//! let ada = repo.create_user("ada@acme.test", "Ada").await?;
//! repo.add_member(org.id, ada.id, "owner").await?;
//! let project = repo.create_project(org.id, "WEB", "Website").await?;
//! let task = repo.create_task(project.id, "Ship it", ada.id).await?;
//! repo.set_status(task.id, TaskStatus::Done, ada.id).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod repo;

pub use repo::{AppError, Organisation, Project, Repo, Task, TaskStatus, User};

/// The application's migrations (21 tables, two enum types, a view), embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
