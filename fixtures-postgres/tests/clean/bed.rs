//! The database a restore property runs on: a template with the schema of `seeded.rs` and
//! its seed rows, as a superuser's or as a mere owner's, and a prepared clone of it (replaced
//! by a fresh one, as `SharedDb` does, when a clean asks for it).

use std::sync::atomic::{AtomicUsize, Ordering};

use fixtures_postgres::clean::{CleanOptions, CleanStrategy};
use fixtures_postgres::pg_server;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::fingerprint::{Fingerprint, fingerprint};
use crate::seeded::seeded;
use crate::util::*;
use crate::writes::Shape;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A template, and the prepared clone of it the rounds run on.
pub struct Bed {
    pub admin: PgConnection,
    /// Connect options of the role the framework and the tests use, for any database.
    pub role: PgConnectOptions,
    pub owner: Option<String>,
    pub template: String,
    pub db: String,
    pub framework: PgConnection,
    pub prepared: Fingerprint,
    pub opts: CleanOptions,
    pub clones: usize,
}

impl Bed {
    pub async fn new(strategy: CleanStrategy, shape: Shape) -> Bed {
        let server = pg_server::fixture()
            .lease_async()
            .await
            .expect("the test server");
        let id = format!(
            "{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = server.admin().await.expect("connect to the test server");
        let mut role = server.connect_options("postgres");
        let owner = (!shape.superuser).then(|| format!("restore_owner_{id}"));
        if let Some(owner) = &owner {
            // Owns what it creates (and the clones), may create schemas there; no superuser.
            exec(
                &mut admin,
                &format!(r#"CREATE ROLE "{owner}" LOGIN NOSUPERUSER PASSWORD 'owner-password'"#),
            )
            .await;
            role = role.username(owner).password("owner-password");
        }
        let template = format!("restore_tmpl_{id}");
        exec(
            &mut admin,
            &create_database(&template, None, owner.as_deref()),
        )
        .await;
        let mut setup = PgConnection::connect_with(&role.clone().database(&template))
            .await
            .expect("connect to the template");
        exec(&mut setup, &seeded(shape.stamped)).await;
        setup.close().await.ok();
        let (db, framework, prepared) =
            Self::clone_of(&mut admin, &role, &template, &owner, 0, &strategy).await;
        Bed {
            admin,
            role,
            owner,
            template,
            db,
            framework,
            prepared,
            opts: opts(strategy),
            clones: 1,
        }
    }

    /// A fresh clone of the template, prepared, and its fingerprint.
    async fn clone_of(
        admin: &mut PgConnection,
        role: &PgConnectOptions,
        template: &str,
        owner: &Option<String>,
        n: usize,
        strategy: &CleanStrategy,
    ) -> (String, PgConnection, Fingerprint) {
        let db = format!("{template}_{n}");
        exec(
            admin,
            &create_database(&db, Some(template), owner.as_deref()),
        )
        .await;
        let mut framework = PgConnection::connect_with(&role.clone().database(&db))
            .await
            .expect("connect to a clone");
        prepare(&mut framework, &opts(*strategy)).await;
        let prepared = fingerprint(&mut framework).await;
        (db, framework, prepared)
    }

    /// Replaces the database by a fresh clone, as `SharedDb` does after a `replace`.
    pub async fn replace(&mut self) {
        let (db, framework, prepared) = Self::clone_of(
            &mut self.admin,
            &self.role,
            &self.template,
            &self.owner,
            self.clones,
            &self.opts.strategy,
        )
        .await;
        self.clones += 1;
        let old = std::mem::replace(&mut self.framework, framework);
        old.close().await.ok();
        let old = std::mem::replace(&mut self.db, db);
        exec(
            &mut self.admin,
            &format!(r#"DROP DATABASE "{old}" WITH (FORCE)"#),
        )
        .await;
        self.prepared = prepared;
    }

    pub async fn drop_all(mut self) {
        self.framework.close().await.ok();
        let (db, template) = (&self.db, &self.template);
        for db in [db, template] {
            exec(
                &mut self.admin,
                &format!(r#"DROP DATABASE "{db}" WITH (FORCE)"#),
            )
            .await;
        }
    }
}

fn create_database(name: &str, template: Option<&str>, owner: Option<&str>) -> String {
    let mut sql = format!(r#"CREATE DATABASE "{name}""#);
    if let Some(t) = template {
        sql.push_str(&format!(r#" TEMPLATE "{t}""#));
    }
    if let Some(o) = owner {
        sql.push_str(&format!(r#" OWNER "{o}""#));
    }
    sql
}
