//! The framework's promise, from a user's side: **whatever the scope, every test starts from
//! the template** — the migrations' seed roles, the seed file's administrator and invoice, the
//! identities and the standalone sequence where the template left them, the materialized view
//! and the audit trail as the template holds them.
//!
//! One set of tests (`same_state_tests!`) runs in each scope's module; the modules differ by
//! one line, the `use` of their `db` fixture. Every test checks the starting state first, then
//! dirties the database in its own way, so that whichever test ran before in a shared database,
//! the next one finds out if the database was not brought back. Half of the tests receive the
//! database through rstest, half lease it in `spawn_app` from a plain `#[tokio::test]`.

mod common;

use common::pg;
use fixtures_postgres::TestDb;
use webapp::{App, Invoice, Role, User};

/// What a test can see of the database, read without changing anything.
#[derive(Debug, PartialEq)]
struct State {
    roles: Vec<Role>,
    users: Vec<User>,
    invoices: Vec<Invoice>,
    /// The next values of the users' and roles' identities and of `invoice_no`.
    next_user_id: i64,
    next_role_id: i64,
    next_invoice_no: i64,
    role_counts: Vec<(String, i64)>,
    audit: Vec<String>,
}

impl State {
    /// The template's: the migrations, then `tests/seed.sql`.
    fn template() -> State {
        let role = |id, name: &str| Role {
            id,
            name: name.into(),
        };
        State {
            roles: vec![role(1, "admin"), role(2, "member"), role(3, "guest")],
            users: vec![admin()],
            invoices: vec![Invoice {
                id: 1,
                number: 1000,
                user_id: 1,
                amount_cents: 4200,
            }],
            next_user_id: 2,
            next_role_id: 4,
            next_invoice_no: 1001,
            role_counts: vec![
                ("admin".into(), 1),
                ("guest".into(), 0),
                ("member".into(), 0),
            ],
            audit: vec!["insert user:1 admin@webapp.test".into()],
        }
    }

    async fn read(app: &App) -> State {
        State {
            roles: app.roles().await.unwrap(),
            users: app.users().await.unwrap(),
            invoices: app.invoices().await.unwrap(),
            next_user_id: next_value(app, "users_id_seq").await,
            next_role_id: next_value(app, "roles_id_seq").await,
            next_invoice_no: next_value(app, "invoice_no").await,
            role_counts: app.role_counts().await.unwrap(),
            audit: app.audit_trail().await.unwrap(),
        }
    }
}

/// The value `nextval` would give next, without taking it.
async fn next_value(app: &App, sequence: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(pg_sequence_last_value($1::regclass) + s.seqincrement, s.seqstart) \
         FROM pg_sequence s WHERE s.seqrelid = $1::regclass",
    )
    .bind(sequence)
    .fetch_one(app.pool())
    .await
    .unwrap()
}

fn admin() -> User {
    User {
        id: 1,
        email: "admin@webapp.test".into(),
        role: "admin".into(),
    }
}

/// Fails the test unless the database is exactly the template.
async fn assert_template_state(app: &App, db: &TestDb) {
    assert_eq!(
        State::read(app).await,
        State::template(),
        "database {} does not start from the template",
        db.name()
    );
}

/// The test bodies, shared by every scope's module: each checks the start, then dirties.
mod cases {
    use super::*;

    pub async fn signs_up_members(app: &App, db: &TestDb) {
        assert_template_state(app, db).await;
        let ann = app.create_user("ann@webapp.test", "member").await.unwrap();
        let bob = app.create_user("bob@webapp.test", "guest").await.unwrap();
        assert_eq!((ann.id, bob.id), (2, 3));
        assert_eq!(app.audit_trail().await.unwrap().len(), 3);
    }

    pub async fn deletes_the_seed_rows(app: &App, db: &TestDb) {
        assert_template_state(app, db).await;
        assert!(app.delete_user(1).await.unwrap());
        assert!(app.delete_role("guest").await.unwrap());
        assert!(app.users().await.unwrap().is_empty());
        assert!(
            app.invoices().await.unwrap().is_empty(),
            "deleted with their user"
        );
        assert_eq!(
            app.audit_trail().await.unwrap().last().unwrap(),
            "delete user:1 admin@webapp.test"
        );
    }

    pub async fn renames_the_roles(app: &App, db: &TestDb) {
        assert_template_state(app, db).await;
        assert!(app.rename_role("admin", "owner").await.unwrap());
        assert_eq!(app.login_as_admin("admin@webapp.test").await.unwrap(), None);
        assert_eq!(app.create_role("auditor").await.unwrap().id, 4);
    }

    pub async fn bills_and_reserves_numbers(app: &App, db: &TestDb) {
        assert_template_state(app, db).await;
        assert_eq!(app.bill(1, 990).await.unwrap().number, 1001);
        assert_eq!(app.reserve_invoice_number().await.unwrap(), 1002);
        assert_eq!(app.invoices().await.unwrap().len(), 2);
    }

    pub async fn refreshes_the_role_counts(app: &App, db: &TestDb) {
        assert_template_state(app, db).await;
        app.create_user("ann@webapp.test", "member").await.unwrap();
        app.create_user("bob@webapp.test", "member").await.unwrap();
        app.refresh_role_counts().await.unwrap();
        let counts = [
            ("admin".into(), 1),
            ("guest".into(), 0),
            ("member".into(), 2),
        ];
        assert_eq!(app.role_counts().await.unwrap(), counts);
    }

    pub async fn a_failed_signup_consumes_an_id(app: &App, db: &TestDb) {
        assert_template_state(app, db).await;
        assert_eq!(
            app.login_as_admin("admin@webapp.test").await.unwrap(),
            Some(admin())
        );
        // Both take an identity before failing: a duplicate e-mail, a role that is not there.
        assert!(
            app.create_user("admin@webapp.test", "member")
                .await
                .is_err()
        );
        assert!(app.create_user("eve@webapp.test", "root").await.is_err());
        assert_eq!(
            app.create_user("carl@webapp.test", "member")
                .await
                .unwrap()
                .id,
            4
        );
    }
}

/// The tests of one scope's module, on the `db` fixture imported where it is invoked: three
/// receive the database through rstest, three lease it in `spawn_app`.
macro_rules! same_state_tests {
    () => {
        use fixtures_core::prelude::*;
        use fixtures_postgres::TestDb;
        use rstest::rstest;
        use webapp::App;

        use crate::cases;
        use crate::common::spawn_app;

        #[rstest]
        #[tokio::test]
        async fn signs_up_members(db: Lease<TestDb>) {
            cases::signs_up_members(&App::new(db.pool()), &db).await;
        }

        #[tokio::test]
        async fn deletes_the_seed_rows() {
            let app = spawn_app(db::fixture()).await;
            cases::deletes_the_seed_rows(&app, &app.db).await;
        }

        #[rstest]
        #[tokio::test]
        async fn renames_the_roles(db: Lease<TestDb>) {
            cases::renames_the_roles(&App::new(db.pool()), &db).await;
        }

        #[tokio::test]
        async fn bills_and_reserves_numbers() {
            let app = spawn_app(db::fixture()).await;
            cases::bills_and_reserves_numbers(&app, &app.db).await;
        }

        #[rstest]
        #[tokio::test]
        async fn refreshes_the_role_counts(db: Lease<TestDb>) {
            cases::refreshes_the_role_counts(&App::new(db.pool()), &db).await;
        }

        #[tokio::test]
        async fn a_failed_signup_consumes_an_id() {
            let app = spawn_app(db::fixture()).await;
            cases::a_failed_signup_consumes_an_id(&app, &app.db).await;
        }
    };
}

/// A fresh clone of the template per test (the cleanest).
mod test_scope_tests {
    use crate::pg::test_scope::db;
    same_state_tests!();
}

/// The module's shared database, brought back to the template before each test.
mod module_scope_tests {
    use crate::pg::module_scope::db;
    same_state_tests!();
}

/// The run's shared database, brought back to the template before each test (the fastest).
mod suite_scope_tests {
    use crate::pg::suite_scope::db;
    same_state_tests!();
}
