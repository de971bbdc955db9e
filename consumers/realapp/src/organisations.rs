//! Organisations: who may do what in one (roles), adding members, and the audit log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::{ApiError, AppState, CurrentUser};

/// What the caller's role in an organisation lets them do.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Role {
    /// Create and change projects, tasks and tags.
    pub(crate) can_write: bool,
    /// Add members, read the audit log.
    pub(crate) can_manage_members: bool,
}

/// The caller's role in `organisation`; not found when they are no member of it (an
/// organisation of others is not shown to exist).
pub(crate) async fn role_in(pool: &PgPool, user: i64, organisation: i64) -> Result<Role, ApiError> {
    sqlx::query_as(
        "SELECT r.can_write, r.can_manage_members FROM memberships m \
         JOIN roles r ON r.id = m.role_id WHERE m.user_id = $1 AND m.organisation_id = $2",
    )
    .bind(user)
    .bind(organisation)
    .fetch_optional(pool)
    .await?
    .ok_or(ApiError::NotFound("no such organisation"))
}

/// Records `action` on `subject` by `actor` in `organisation`.
pub(crate) async fn audit(
    pool: &PgPool,
    organisation: i64,
    actor: i64,
    action: &str,
    subject: &str,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO audit_log (organisation_id, actor_id, action, subject) VALUES ($1, $2, $3, $4)",
    )
    .bind(organisation)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .execute(pool)
    .await?;
    Ok(())
}

/// What `POST /organisations/{id}/members` takes.
#[derive(Debug, Deserialize)]
pub struct NewMember {
    email: String,
    role: String,
}

/// A membership, as the API shows it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Member {
    organisation_id: i64,
    user_id: i64,
    role: String,
}

/// `POST /organisations/{id}/members`: owners and admins add a registered user with a role
/// (not `owner`).
pub async fn add_member(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(organisation): Path<i64>,
    Json(new): Json<NewMember>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    let role = role_in(&state.pool, caller.id, organisation).await?;
    if !role.can_manage_members {
        return Err(ApiError::Forbidden("only owners and admins add members"));
    }
    if !["admin", "member", "viewer"].contains(&new.role.as_str()) {
        return Err(ApiError::Invalid(format!("no such role: {:?}", new.role)));
    }
    let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1)")
        .bind(new.email.trim())
        .fetch_optional(&state.pool)
        .await?
        .ok_or(ApiError::NotFound("no such user"))?;
    let member: Member = sqlx::query_as(
        "INSERT INTO memberships (organisation_id, user_id, role_id) \
         SELECT $1, $2, id FROM roles WHERE name = $3 \
         RETURNING organisation_id, user_id, $3 AS role",
    )
    .bind(organisation)
    .bind(user)
    .bind(&new.role)
    .fetch_one(&state.pool)
    .await?;
    audit(
        &state.pool,
        organisation,
        caller.id,
        "member.added",
        &new.email,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// An entry of the audit log.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    id: i64,
    actor_id: Option<i64>,
    action: String,
    subject: String,
}

/// `GET /organisations/{id}/audit`: the organisation's log, oldest first (owners and admins).
pub async fn audit_log(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(organisation): Path<i64>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let role = role_in(&state.pool, caller.id, organisation).await?;
    if !role.can_manage_members {
        return Err(ApiError::Forbidden(
            "only owners and admins read the audit log",
        ));
    }
    let entries = sqlx::query_as(
        "SELECT id, actor_id, action, subject FROM audit_log \
         WHERE organisation_id = $1 ORDER BY id",
    )
    .bind(organisation)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(entries))
}
