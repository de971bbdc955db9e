//! Projects: created in an organisation by its writers, seen by its members.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::organisations::{Role, audit, role_in};
use crate::{ApiError, AppState, CurrentUser};

/// A project, with its task counts.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Project {
    id: i64,
    organisation_id: i64,
    name: String,
    description: String,
    tasks: i64,
    done: i64,
}

/// The columns of [`Project`], from `projects p` joined with `project_stats s`.
const PROJECT: &str = "SELECT p.id, p.organisation_id, p.name, p.description, \
     s.tasks, s.done FROM projects p JOIN project_stats s ON s.project_id = p.id";

/// The organisation of `project` and the caller's role in it; not found when the caller is no
/// member of it.
pub(crate) async fn access(
    pool: &PgPool,
    user: i64,
    project: i64,
) -> Result<(i64, Role), ApiError> {
    let organisation: i64 =
        sqlx::query_scalar("SELECT organisation_id FROM projects WHERE id = $1")
            .bind(project)
            .fetch_optional(pool)
            .await?
            .ok_or(ApiError::NotFound("no such project"))?;
    let role = role_in(pool, user, organisation)
        .await
        .map_err(|_| ApiError::NotFound("no such project"))?;
    Ok((organisation, role))
}

/// What `POST /projects` takes.
#[derive(Debug, Deserialize)]
pub struct NewProject {
    organisation_id: i64,
    name: String,
    #[serde(default)]
    description: String,
}

/// `POST /projects`: a new project in one of the caller's organisations (writers only, up to
/// the configured number per organisation), audited.
pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    Json(new): Json<NewProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let role = role_in(&state.pool, caller.id, new.organisation_id).await?;
    if !role.can_write {
        return Err(ApiError::Forbidden("viewers cannot create projects"));
    }
    let name = new.name.trim();
    if name.is_empty() {
        return Err(ApiError::Invalid("a project needs a name".into()));
    }
    let (count, max): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM projects WHERE organisation_id = $1), \
                (SELECT value::bigint FROM settings WHERE key = 'max_projects_per_organisation')",
    )
    .bind(new.organisation_id)
    .fetch_one(&state.pool)
    .await?;
    if count >= max {
        return Err(ApiError::Forbidden(
            "the organisation has reached its project limit",
        ));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO projects (organisation_id, name, description, created_by) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(new.organisation_id)
    .bind(name)
    .bind(&new.description)
    .bind(caller.id)
    .fetch_one(&state.pool)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!("a project {name:?} exists")),
        other => other,
    })?;
    audit(
        &state.pool,
        new.organisation_id,
        caller.id,
        "project.created",
        name,
    )
    .await?;
    let project = one(&state.pool, id).await?;
    Ok((StatusCode::CREATED, Json(project)))
}

/// The project `id`.
async fn one(pool: &PgPool, id: i64) -> Result<Project, ApiError> {
    let sql = format!("{PROJECT} WHERE p.id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(ApiError::NotFound("no such project"))
}

/// `GET /projects`: the projects of every organisation the caller belongs to, oldest first.
pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> Result<Json<Vec<Project>>, ApiError> {
    let sql = format!(
        "{PROJECT} JOIN memberships m ON m.organisation_id = p.organisation_id \
         WHERE m.user_id = $1 AND NOT p.archived ORDER BY p.id"
    );
    let projects = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(caller.id)
        .fetch_all(&state.pool)
        .await?;
    Ok(Json(projects))
}

/// `GET /projects/{id}`: one project, if the caller may see it.
pub async fn show(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<Project>, ApiError> {
    access(&state.pool, caller.id, id).await?;
    Ok(Json(one(&state.pool, id).await?))
}
