//! A login role per test database (test scope, [`Databases::role_per_test`]): the test
//! connects as a role of its own that owns its database and everything in it — no superuser,
//! no `CREATEDB`, no `CREATEROLE` — so that code which must not run as a superuser is tested
//! as it runs in production. The role is dropped with the database (and swept with it when a
//! run was killed: the database's mark names it).
//!
//! [`Databases::role_per_test`]: crate::Databases::role_per_test

use sqlx::PgConnection;

use crate::error::Error;
use crate::names;
use crate::server::PgServer;
use crate::sql::{exec, quote_ident, quote_literal};

/// A test's role: its name and password.
#[derive(Debug, Clone)]
pub(crate) struct TestRole {
    pub(crate) name: String,
    pub(crate) password: String,
}

/// The role of test database `database`.
pub(crate) fn role_name(database: &str) -> String {
    format!("fxr_{}", names::digest(&[database], 24))
}

/// Makes everything in the connected database that is not the system's owned by `{role}`:
/// schemas, tables (with the sequences they own), views, sequences of their own, routines,
/// types.
const OWN_EVERYTHING: &str = r#"DO $fx$
DECLARE r record;
BEGIN
  FOR r IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT IN ('pg_catalog', 'information_schema')
             AND nspname NOT LIKE 'pg\_toast%' AND nspname NOT LIKE 'pg\_temp%' LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', r.nspname, {role});
  END LOOP;
  FOR r IN SELECT c.oid::regclass::text AS obj, c.relkind FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
             AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg\_toast%'
             AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))) LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                     WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
      r.obj, {role});
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure::text AS obj FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.obj, {role});
  END LOOP;
  FOR r IN SELECT t.oid::regtype::text AS obj FROM pg_type t
           JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND t.typtype IN ('e', 'd', 'r')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e') LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO %I', r.obj, {role});
  END LOOP;
END $fx$"#;

/// Creates the role of `database` (a login with a random password, nothing more) and gives it
/// the database and what is in it (`admin`: a connection to the maintenance database).
pub(crate) async fn grant(
    server: &PgServer,
    admin: &mut PgConnection,
    database: &str,
) -> Result<TestRole, Error> {
    let name = role_name(database);
    let password = fixtures_core::secret::random_hex().map_err(|e| Error::Config {
        setting: "a test role's password".into(),
        value: String::new(),
        expected: format!("random bytes from the system ({e})"),
    })?;
    // md5 on a server of ours: a SCRAM login costs a debug-built client ~50 ms per connection.
    // On any other server the password is stored as the server stores passwords: its
    // `pg_hba.conf` may ask for SCRAM (the official image's does), which an md5 one fails.
    let encryption = if server.is_ours() {
        "SET password_encryption = 'md5'; "
    } else {
        ""
    };
    exec(
        admin,
        format!(
            "{encryption}\
             CREATE ROLE {role} LOGIN PASSWORD {pw} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION; \
             RESET password_encryption; ALTER DATABASE {db} OWNER TO {role}",
            role = quote_ident(&name),
            pw = quote_literal(&password),
            db = quote_ident(database),
        ),
        database,
    )
    .await
    .map_err(|e| roles_refused(e, database))?;
    let mut conn = crate::sql::connect(&server.connect_options(database))
        .await
        .map_err(Error::sql("connecting", database))?;
    let owned = exec(
        &mut conn,
        OWN_EVERYTHING.replace("{role}", &quote_literal(&name)),
        database,
    )
    .await;
    let _ = sqlx::Connection::close(conn).await;
    owned?;
    Ok(TestRole { name, password })
}

fn roles_refused(e: Error, database: &str) -> Error {
    match e {
        Error::Sql { source, .. } => Error::Sql {
            action: "creating the test's role (Databases::role_per_test needs a user with \
                     CREATEROLE, e.g. a superuser)"
                .into(),
            database: database.into(),
            source,
        },
        other => other,
    }
}

/// Drops role `name` (after its database: it owns nothing else).
pub(crate) async fn drop_role(admin: &mut PgConnection, name: &str) -> Result<(), Error> {
    exec(
        admin,
        format!("DROP ROLE IF EXISTS {}", quote_ident(name)),
        "postgres",
    )
    .await
}
