//! Helpers of the cleaning tests: run SQL, read counts and sequence states, snapshot a database.
#![allow(dead_code)]

use std::collections::BTreeMap;

use fixtures_postgres::clean::__private as engine;
use fixtures_postgres::clean::{CleanOptions, CleanReport, CleanStrategy};
use sqlx::{Connection, PgConnection};

/// Runs SQL text (several statements allowed) in one round trip; panics on error.
pub async fn exec(conn: &mut PgConnection, sql: &str) {
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
    {
        panic!("SQL failed: {e}\n{sql}");
    }
}

/// Runs SQL text and returns whether it succeeded (for writes that may fail on purpose).
pub async fn try_exec(conn: &mut PgConnection, sql: &str) -> bool {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut *conn)
        .await
        .is_ok()
}

/// One value of a one-row, one-column query.
pub async fn scalar<T>(conn: &mut PgConnection, sql: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    match sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&mut *conn)
        .await
    {
        Ok(v) => v,
        Err(e) => panic!("query failed: {e}\n{sql}"),
    }
}

/// `SELECT count(*) FROM <table>` (the table as SQL text, quoted as needed).
pub async fn count(conn: &mut PgConnection, table: &str) -> i64 {
    scalar(conn, &format!("SELECT count(*) FROM {table}")).await
}

/// Inserts default values into `table` and returns the generated `id`.
pub async fn insert_id(conn: &mut PgConnection, table: &str) -> i64 {
    scalar(
        conn,
        &format!("INSERT INTO {table} DEFAULT VALUES RETURNING id::bigint"),
    )
    .await
}

pub fn opts(strategy: CleanStrategy) -> CleanOptions {
    CleanOptions::new().strategy(strategy)
}

pub async fn prepare(conn: &mut PgConnection, opts: &CleanOptions) {
    engine::prepare(conn, opts).await.expect("prepare");
}

pub async fn clean(conn: &mut PgConnection, opts: &CleanOptions) -> CleanReport {
    engine::clean(conn, opts).await.expect("clean")
}

/// The three strategies that empty tables.
pub const STRATEGIES: [CleanStrategy; 3] = [
    CleanStrategy::Auto,
    CleanStrategy::Delete,
    CleanStrategy::Truncate,
];

/// Everything a clean may change, readable when two differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Rows per table (every table and partition outside the system schemas, `_fixtures`
    /// excluded), by `schema.name`.
    pub rows: BTreeMap<String, i64>,
    /// Per sequence: `pg_sequences.last_value` and the value `nextval` would return next.
    pub sequences: BTreeMap<String, (Option<i64>, i64)>,
}

pub async fn snapshot(conn: &mut PgConnection) -> Snapshot {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname !~ '^pg_'
           AND n.nspname NOT IN ('information_schema', '_fixtures') ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("list tables");
    let mut rows = BTreeMap::new();
    for t in tables {
        let n = count(conn, &t).await;
        rows.insert(t, n);
    }
    let seqs: Vec<(String, Option<i64>, i64)> = sqlx::query_as(
        "SELECT format('%I.%I', schemaname, sequencename), last_value,
                coalesce(last_value + increment_by, start_value)
         FROM pg_sequences WHERE schemaname <> '_fixtures' ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("list sequences");
    let sequences = seqs
        .into_iter()
        .map(|(n, l, next)| (n, (l, next)))
        .collect();
    Snapshot { rows, sequences }
}

impl Snapshot {
    /// The tables that hold rows.
    pub fn non_empty(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(t, _)| t.as_str())
            .collect()
    }

    /// The sequences that moved since their start.
    pub fn moved(&self) -> Vec<&str> {
        self.sequences
            .iter()
            .filter(|(_, (last, _))| last.is_some())
            .map(|(s, _)| s.as_str())
            .collect()
    }
}

/// A role that owns what it creates but is no superuser (it may not set
/// `session_replication_role` nor create event triggers), with the right to create schemas in
/// the database when `create_on_database`: a connection as that role, and its URL.
pub async fn owner(
    admin: &mut PgConnection,
    url: &str,
    create_on_database: bool,
) -> (PgConnection, String) {
    let db: String = scalar(admin, "SELECT current_database()::text").await;
    let role = format!("owner_{db}");
    let grant = if create_on_database {
        format!(r#"GRANT CREATE ON DATABASE "{db}" TO "{role}";"#)
    } else {
        String::new()
    };
    exec(
        admin,
        &format!(
            r#"CREATE ROLE "{role}" LOGIN NOSUPERUSER PASSWORD '{OWNER_PASSWORD}';
               GRANT ALL ON SCHEMA public TO "{role}";
               {grant}"#
        ),
    )
    .await;
    let opts = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(url)
        .expect("a database URL");
    let url = format!(
        "postgres://{role}:{OWNER_PASSWORD}@{}:{}/{db}",
        opts.get_host(),
        opts.get_port()
    );
    let conn = PgConnection::connect(&url)
        .await
        .expect("connect as the owner");
    (conn, url)
}

/// The password of the owner roles the tests create (the servers require passwords).
const OWNER_PASSWORD: &str = "owner-password";
