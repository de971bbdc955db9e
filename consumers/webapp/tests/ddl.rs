//! A test that changes the schema must not change it for the tests after it: in a module-scoped
//! database, one test drops a column of a seeded table, adds a column and creates a table; the
//! module's other tests check the template's schema (and nothing of its data), whatever order
//! they run in. Each checks the schema before changing anything, the DDL test too.

mod common;

use common::pg;
use fixtures_postgres::TestDb;
use webapp::App;

/// The tables of the application's schema, by name.
async fn tables(app: &App) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(app.pool())
    .await
    .unwrap()
}

/// The columns of a table of the application's schema, in order.
async fn columns(app: &App, table: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(app.pool())
    .await
    .unwrap()
}

/// What a test can see of the schema.
#[derive(Debug, PartialEq)]
struct Schema {
    tables: Vec<String>,
    users_columns: Vec<String>,
    roles_columns: Vec<String>,
}

/// Fails the test unless the schema is the template's (one comparison: the message shows
/// every difference).
async fn assert_template_schema(app: &App, db: &TestDb) {
    let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
    let template = Schema {
        tables: names(&["_sqlx_migrations", "audit", "invoices", "roles", "users"]),
        users_columns: names(&["id", "email", "role_id"]),
        roles_columns: names(&["id", "name"]),
    };
    let schema = Schema {
        tables: tables(app).await,
        users_columns: columns(app, "users").await,
        roles_columns: columns(app, "roles").await,
    };
    assert_eq!(schema, template, "schema of {}", db.name());
}

mod schema {
    use fixtures_core::prelude::*;
    use fixtures_postgres::TestDb;
    use rstest::rstest;
    use webapp::App;

    use super::{assert_template_schema, columns, tables};
    use crate::common::spawn_app;
    use crate::pg::module_scope::db;

    #[rstest]
    #[tokio::test]
    async fn alters_the_schema(db: Lease<TestDb>) {
        let app = App::new(db.pool());
        assert_template_schema(&app, &db).await;
        sqlx::raw_sql(
            "ALTER TABLE users DROP COLUMN email; \
             ALTER TABLE roles ADD COLUMN note text; \
             CREATE TABLE scratch (id int PRIMARY KEY)",
        )
        .execute(app.pool())
        .await
        .unwrap();
        assert!(tables(&app).await.contains(&"scratch".to_owned()));
        assert_eq!(columns(&app, "users").await, ["id", "role_id"]);
    }

    #[rstest]
    #[tokio::test]
    async fn users_have_an_email(db: Lease<TestDb>) {
        let app = App::new(db.pool());
        assert_template_schema(&app, &db).await;
        sqlx::query("SELECT email FROM users")
            .fetch_all(app.pool())
            .await
            .expect("users have an `email` column");
    }

    #[tokio::test]
    async fn emails_are_unique() {
        let app = spawn_app(db::fixture()).await;
        assert_template_schema(&app, &app.db).await;
        let unique: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM pg_indexes \
             WHERE tablename = 'users' AND indexname = 'users_email_key')",
        )
        .fetch_one(app.pool())
        .await
        .unwrap();
        assert!(unique, "in {}", app.db.name());
    }

    #[rstest]
    #[tokio::test]
    async fn roles_have_no_extra_column(db: Lease<TestDb>) {
        let app = App::new(db.pool());
        assert_template_schema(&app, &db).await;
        let columns: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_attribute \
             WHERE attrelid = 'roles'::regclass AND attnum > 0 AND NOT attisdropped",
        )
        .fetch_one(app.pool())
        .await
        .unwrap();
        assert_eq!(columns, 2, "in {}", db.name());
    }

    #[tokio::test]
    async fn no_scratch_table_is_left() {
        let app = spawn_app(db::fixture()).await;
        assert_template_schema(&app, &app.db).await;
        let absent: bool = sqlx::query_scalar("SELECT to_regclass('scratch') IS NULL")
            .fetch_one(app.pool())
            .await
            .unwrap();
        assert!(absent, "in {}", app.db.name());
    }
}
