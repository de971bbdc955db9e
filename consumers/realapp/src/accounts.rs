//! Accounts and sessions: sign-up (with a personal organisation), login with a bearer token,
//! logout, the caller's profile, and the public settings.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::password::{blocking, hash_password, verify_password};
use crate::{ApiError, AppState};

/// A PHC string of argon2's default parameters that matches no password: verified against when
/// the email is unknown, so that a login takes as long whether or not the account exists.
const NO_SUCH_USER: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    QbPmV9Jkv2j0g5FU6UV8ag$h7yjlHIbo0CxwSai5yr9lOq9WQnOPc30jmVSbx2leEk";

/// The caller, from the bearer token of a live session.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// Their user id.
    pub id: i64,
    /// The session's token.
    pub token: String,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?
            .to_owned();
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT user_id FROM sessions WHERE token = $1 AND expires_at > now()",
        )
        .bind(&token)
        .fetch_optional(&state.pool)
        .await?;
        let id = id.ok_or(ApiError::Unauthorized)?;
        Ok(CurrentUser { id, token })
    }
}

/// A setting, as `GET /settings` lists it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Setting {
    key: String,
    value: String,
}

/// `GET /settings`: the public settings, by key.
pub async fn public_settings(
    State(state): State<AppState>,
) -> Result<Json<Vec<Setting>>, ApiError> {
    let settings = sqlx::query_as("SELECT key, value FROM settings WHERE public ORDER BY key")
        .fetch_all(&state.pool)
        .await?;
    Ok(Json(settings))
}

/// What `POST /users` takes.
#[derive(Debug, Deserialize)]
pub struct Registration {
    email: String,
    name: String,
    password: String,
}

/// A user, as the API shows them.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct User {
    id: i64,
    email: String,
    name: String,
}

/// `POST /users`: a new account (password hashed), its personal organisation (the user its
/// owner) and default preferences, audited.
pub async fn register(
    State(state): State<AppState>,
    Json(new): Json<Registration>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let (open, min_length): (bool, i32) = sqlx::query_as(
        "SELECT (SELECT value = 'true' FROM settings WHERE key = 'signup_open'), \
                (SELECT value::int FROM settings WHERE key = 'min_password_length')",
    )
    .fetch_one(&state.pool)
    .await?;
    if !open {
        return Err(ApiError::Forbidden("sign-up is closed"));
    }
    let email = new.email.trim().to_owned();
    let name = new.name.trim().to_owned();
    if email.len() < 3 || !email.contains('@') || email.starts_with('@') {
        return Err(ApiError::Invalid(format!(
            "not an email address: {email:?}"
        )));
    }
    if name.is_empty() {
        return Err(ApiError::Invalid("a name is needed".into()));
    }
    if new.password.chars().count() < min_length as usize {
        return Err(ApiError::Invalid(format!(
            "the password needs at least {min_length} characters"
        )));
    }
    let password = new.password;
    let hash = blocking(move || hash_password(&password)).await??;

    let mut tx = state.pool.begin().await?;
    let user: User = sqlx::query_as(
        "INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3) \
         RETURNING id, email, name",
    )
    .bind(&email)
    .bind(&name)
    .bind(&hash)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!("{email} is already registered")),
        other => other,
    })?;
    let slug = format!("u-{}", user.id);
    let organisation: i64 = sqlx::query_scalar(
        "INSERT INTO organisations (slug, name, personal) VALUES ($1, $2, TRUE) RETURNING id",
    )
    .bind(&slug)
    .bind(format!("{name}'s workspace"))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO memberships (organisation_id, user_id, role_id) \
         SELECT $1, $2, id FROM roles WHERE name = 'owner'",
    )
    .bind(organisation)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO user_settings (user_id, key, value) VALUES ($1, 'theme', 'light')")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO audit_log (organisation_id, actor_id, action, subject) \
         VALUES ($1, $2, 'user.registered', $3), ($1, $2, 'organisation.created', $4)",
    )
    .bind(organisation)
    .bind(user.id)
    .bind(&email)
    .bind(&slug)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// What `POST /sessions` takes.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    email: String,
    password: String,
}

/// What `POST /sessions` answers.
#[derive(Debug, Serialize)]
pub struct Session {
    token: String,
    user_id: i64,
}

/// `POST /sessions`: checks the password (as long for an unknown email) and opens a session
/// for the configured time.
pub async fn login(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Json(credentials): Json<Credentials>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let found: Option<(i64, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE lower(email) = lower($1)")
            .bind(credentials.email.trim())
            .fetch_optional(&state.pool)
            .await?;
    let (user_id, hash) = match found {
        Some((id, hash)) => (Some(id), hash),
        None => (None, NO_SUCH_USER.to_owned()),
    };
    let password = credentials.password;
    let matches = blocking(move || verify_password(&password, &hash)).await?;
    let user_id = match user_id {
        Some(id) if matches => id,
        _ => return Err(ApiError::Unauthorized),
    };
    let token = new_token();
    let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    sqlx::query(
        "INSERT INTO sessions (token, user_id, expires_at, user_agent) \
         SELECT $1, $2, now() + make_interval(hours => value::int), $3 \
         FROM settings WHERE key = 'session_ttl_hours'",
    )
    .bind(&token)
    .bind(user_id)
    .bind(agent)
    .execute(&state.pool)
    .await?;
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
        .bind(user_id)
        .execute(&state.pool)
        .await?;
    Ok((StatusCode::CREATED, Json(Session { token, user_id })))
}

/// 32 random bytes, in hex.
fn new_token() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `DELETE /sessions`: ends the caller's session.
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<StatusCode, ApiError> {
    sqlx::query("DELETE FROM sessions WHERE token = $1")
        .bind(&user.token)
        .execute(&state.pool)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An organisation the caller belongs to, with their role.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct MyOrganisation {
    id: i64,
    slug: String,
    name: String,
    role: String,
}

/// What `GET /me` answers.
#[derive(Debug, Serialize)]
pub struct Me {
    #[serde(flatten)]
    user: User,
    theme: Option<String>,
    organisations: Vec<MyOrganisation>,
}

/// `GET /me`: the caller, their preferences and their organisations.
pub async fn me(State(state): State<AppState>, caller: CurrentUser) -> Result<Json<Me>, ApiError> {
    let user: User = sqlx::query_as("SELECT id, email, name FROM users WHERE id = $1")
        .bind(caller.id)
        .fetch_one(&state.pool)
        .await?;
    let theme =
        sqlx::query_scalar("SELECT value FROM user_settings WHERE user_id = $1 AND key = 'theme'")
            .bind(caller.id)
            .fetch_optional(&state.pool)
            .await?;
    let organisations = sqlx::query_as(
        "SELECT o.id, o.slug, o.name, r.name AS role FROM memberships m \
         JOIN organisations o ON o.id = m.organisation_id JOIN roles r ON r.id = m.role_id \
         WHERE m.user_id = $1 ORDER BY o.id",
    )
    .bind(caller.id)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(Me {
        user,
        theme,
        organisations,
    }))
}
