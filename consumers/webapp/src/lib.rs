//! A tiny web application's data layer — roles, users, an audit trail written by a trigger,
//! invoices numbered by a standalone sequence, a materialized view of users per role — on
//! Postgres through sqlx. Its tests (`tests/`) are written as a user of the fixtures framework
//! writes them, and check that every scope starts each test from the same state.
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
//! let app = webapp::App::new(pool);
//! let ann = app.create_user("ann@webapp.test", "member").await?;
//! app.bill(ann.id, 1_500).await?;
//! assert!(app.login_as_admin("ann@webapp.test").await?.is_none());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use sqlx::PgPool;

/// The application's migrations, embedded at compile time. They create the three roles.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A role users are given.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Role {
    /// Its identity.
    pub id: i32,
    /// Its unique name (`admin`, `member`, `guest` after the migrations).
    pub name: String,
}

/// A user, with the name of their role.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    /// Its identity.
    pub id: i64,
    /// Its unique e-mail address.
    pub email: String,
    /// The name of its role.
    pub role: String,
}

/// An invoice.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Invoice {
    /// Its identity.
    pub id: i64,
    /// Its number, from the `invoice_no` sequence.
    pub number: i64,
    /// Who is billed.
    pub user_id: i64,
    /// How much, in cents.
    pub amount_cents: i64,
}

/// The application: every operation is one call on a pool.
#[derive(Debug, Clone)]
pub struct App {
    pool: PgPool,
}

impl App {
    /// The application on `pool`.
    pub fn new(pool: PgPool) -> App {
        App { pool }
    }

    /// Its pool (for what the application does not offer).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Every role, by identity.
    pub async fn roles(&self) -> Result<Vec<Role>, sqlx::Error> {
        sqlx::query_as("SELECT id, name FROM roles ORDER BY id")
            .fetch_all(&self.pool)
            .await
    }

    /// Creates a role.
    pub async fn create_role(&self, name: &str) -> Result<Role, sqlx::Error> {
        sqlx::query_as("INSERT INTO roles (name) VALUES ($1) RETURNING id, name")
            .bind(name)
            .fetch_one(&self.pool)
            .await
    }

    /// Renames a role; false when there is none of that name.
    pub async fn rename_role(&self, from: &str, to: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("UPDATE roles SET name = $2 WHERE name = $1")
            .bind(from)
            .bind(to)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a role no user has; false when there is none of that name.
    pub async fn delete_role(&self, name: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM roles WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Signs a user up with a role (by name).
    pub async fn create_user(&self, email: &str, role: &str) -> Result<User, sqlx::Error> {
        sqlx::query_as(
            "INSERT INTO users (email, role_id) \
             VALUES ($1, (SELECT id FROM roles WHERE name = $2)) \
             RETURNING id, email, $2 AS role",
        )
        .bind(email)
        .bind(role)
        .fetch_one(&self.pool)
        .await
    }

    /// Every user, by identity.
    pub async fn users(&self) -> Result<Vec<User>, sqlx::Error> {
        sqlx::query_as(
            "SELECT u.id, u.email, r.name AS role FROM users u JOIN roles r ON r.id = u.role_id \
             ORDER BY u.id",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Deletes a user (and their invoices); false when there is none.
    pub async fn delete_user(&self, id: i64) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The user of this e-mail address when they are an administrator.
    pub async fn login_as_admin(&self, email: &str) -> Result<Option<User>, sqlx::Error> {
        sqlx::query_as(
            "SELECT u.id, u.email, r.name AS role FROM users u JOIN roles r ON r.id = u.role_id \
             WHERE u.email = $1 AND r.name = 'admin'",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
    }

    /// Bills a user: a new invoice with the next number.
    pub async fn bill(&self, user_id: i64, amount_cents: i64) -> Result<Invoice, sqlx::Error> {
        sqlx::query_as(
            "INSERT INTO invoices (user_id, amount_cents) VALUES ($1, $2) \
             RETURNING id, number, user_id, amount_cents",
        )
        .bind(user_id)
        .bind(amount_cents)
        .fetch_one(&self.pool)
        .await
    }

    /// Every invoice, by number.
    pub async fn invoices(&self) -> Result<Vec<Invoice>, sqlx::Error> {
        sqlx::query_as("SELECT id, number, user_id, amount_cents FROM invoices ORDER BY number")
            .fetch_all(&self.pool)
            .await
    }

    /// Reserves an invoice number (for an invoice made elsewhere).
    pub async fn reserve_invoice_number(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT nextval('invoice_no')")
            .fetch_one(&self.pool)
            .await
    }

    /// The users per role, as of the last refresh, by role name.
    pub async fn role_counts(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as("SELECT role, users FROM role_counts ORDER BY role")
            .fetch_all(&self.pool)
            .await
    }

    /// Recomputes the users per role.
    pub async fn refresh_role_counts(&self) -> Result<(), sqlx::Error> {
        sqlx::query("REFRESH MATERIALIZED VIEW role_counts")
            .execute(&self.pool)
            .await
            .map(drop)
    }

    /// The audit trail, oldest first, as `action user:id email`.
    pub async fn audit_trail(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT action || ' user:' || user_id || ' ' || email FROM audit ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
    }
}
