//! Tasks of a project (with their organisation's tags) and their comments.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::organisations::audit;
use crate::projects::access;
use crate::{ApiError, AppState, CurrentUser};

/// A task, with its tags (sorted).
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Task {
    id: i64,
    project_id: i64,
    title: String,
    done: bool,
    tags: Vec<String>,
}

/// The columns of [`Task`], from `tasks t`.
const TASK: &str = "SELECT t.id, t.project_id, t.title, t.done, \
     ARRAY(SELECT g.name FROM task_tags tt JOIN tags g ON g.id = tt.tag_id \
           WHERE tt.task_id = t.id ORDER BY g.name) AS tags \
     FROM tasks t";

/// The task `id`.
async fn one(pool: &PgPool, id: i64) -> Result<Task, ApiError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{TASK} WHERE t.id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(ApiError::NotFound("no such task"))
}

/// The project of task `id`; not found when the caller may not see it.
async fn project_of(pool: &PgPool, user: i64, id: i64) -> Result<i64, ApiError> {
    let project: i64 = sqlx::query_scalar("SELECT project_id FROM tasks WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(ApiError::NotFound("no such task"))?;
    access(pool, user, project)
        .await
        .map_err(|_| ApiError::NotFound("no such task"))?;
    Ok(project)
}

/// What `POST /projects/{id}/tasks` takes.
#[derive(Debug, Deserialize)]
pub struct NewTask {
    title: String,
    #[serde(default)]
    tags: Vec<String>,
}

/// `POST /projects/{id}/tasks`: a new task, its tags created in the organisation as needed
/// (writers only), audited.
pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(project): Path<i64>,
    Json(new): Json<NewTask>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let (organisation, role) = access(&state.pool, caller.id, project).await?;
    if !role.can_write {
        return Err(ApiError::Forbidden("viewers cannot create tasks"));
    }
    let title = new.title.trim();
    if title.is_empty() {
        return Err(ApiError::Invalid("a task needs a title".into()));
    }
    let mut tx = state.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tasks (project_id, title, created_by) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(project)
    .bind(title)
    .bind(caller.id)
    .fetch_one(&mut *tx)
    .await?;
    if !new.tags.is_empty() {
        sqlx::query(
            "INSERT INTO tags (organisation_id, name) SELECT $1, unnest($2::text[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(organisation)
        .bind(&new.tags)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO task_tags (task_id, tag_id) SELECT $1, id FROM tags \
             WHERE organisation_id = $2 AND name = ANY($3)",
        )
        .bind(id)
        .bind(organisation)
        .bind(&new.tags)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    audit(&state.pool, organisation, caller.id, "task.created", title).await?;
    Ok((StatusCode::CREATED, Json(one(&state.pool, id).await?)))
}

/// The query of `GET /projects/{id}/tasks`.
#[derive(Debug, Deserialize)]
pub struct TaskFilter {
    done: Option<bool>,
}

/// `GET /projects/{id}/tasks[?done=BOOL]`: the project's tasks, oldest first.
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(project): Path<i64>,
    Query(filter): Query<TaskFilter>,
) -> Result<Json<Vec<Task>>, ApiError> {
    access(&state.pool, caller.id, project).await?;
    let sql = format!(
        "{TASK} WHERE t.project_id = $1 AND ($2::boolean IS NULL OR t.done = $2) ORDER BY t.id"
    );
    let tasks = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(project)
        .bind(filter.done)
        .fetch_all(&state.pool)
        .await?;
    Ok(Json(tasks))
}

/// `POST /tasks/{id}/complete`: marks an open task done (a conflict when it is done already).
pub async fn complete(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Task>, ApiError> {
    let project = project_of(&state.pool, caller.id, id).await?;
    let (organisation, role) = access(&state.pool, caller.id, project).await?;
    if !role.can_write {
        return Err(ApiError::Forbidden("viewers cannot complete tasks"));
    }
    let changed =
        sqlx::query("UPDATE tasks SET done = TRUE, done_at = now() WHERE id = $1 AND NOT done")
            .bind(id)
            .execute(&state.pool)
            .await?;
    if changed.rows_affected() == 0 {
        return Err(ApiError::Conflict(format!("task {id} is done already")));
    }
    audit(
        &state.pool,
        organisation,
        caller.id,
        "task.completed",
        &id.to_string(),
    )
    .await?;
    Ok(Json(one(&state.pool, id).await?))
}

/// A comment, with its author's name.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Comment {
    id: i64,
    task_id: i64,
    author: Option<String>,
    body: String,
}

/// What `POST /tasks/{id}/comments` takes.
#[derive(Debug, Deserialize)]
pub struct NewComment {
    body: String,
}

/// `POST /tasks/{id}/comments`: any member who sees the task may comment.
pub async fn comment(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<i64>,
    Json(new): Json<NewComment>,
) -> Result<(StatusCode, Json<Comment>), ApiError> {
    project_of(&state.pool, caller.id, id).await?;
    let comment = sqlx::query_as(
        "WITH c AS (INSERT INTO comments (task_id, author_id, body) VALUES ($1, $2, $3) \
                    RETURNING id, task_id, author_id, body) \
         SELECT c.id, c.task_id, u.name AS author, c.body FROM c LEFT JOIN users u ON u.id = c.author_id",
    )
    .bind(id)
    .bind(caller.id)
    .bind(&new.body)
    .fetch_one(&state.pool)
    .await?;
    Ok((StatusCode::CREATED, Json(comment)))
}

/// `GET /tasks/{id}/comments`: the task's comments, oldest first.
pub async fn comments(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Comment>>, ApiError> {
    project_of(&state.pool, caller.id, id).await?;
    let comments = sqlx::query_as(
        "SELECT c.id, c.task_id, u.name AS author, c.body FROM comments c \
         LEFT JOIN users u ON u.id = c.author_id WHERE c.task_id = $1 ORDER BY c.id",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(comments))
}
