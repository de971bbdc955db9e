//! SQL built from text: where it is executed, how names and strings are quoted into it, and
//! how the server's errors are shown.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::error::Error;

/// How long the framework's own connections wait for a server that is full.
const FULL_WAIT: Duration = Duration::from_secs(15);

/// A new connection of the framework's: like `PgConnection::connect_with`, except that a
/// server with no connection free (SQLSTATE 53300, "too many clients") is tried again, with
/// backoff, for up to [`FULL_WAIT`] — the connection budget keeps the framework's total under
/// the server's limit, but what it does not count (a process about to join, a person's
/// `psql`) may fill the last slots for a moment.
pub(crate) async fn connect(options: &PgConnectOptions) -> Result<PgConnection, sqlx::Error> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        match PgConnection::connect_with(options).await {
            Err(e) if server_full(&e) && start.elapsed() < FULL_WAIT => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            other => return other,
        }
    }
}

/// Whether a connection was refused because the server is full (SQLSTATE 53300).
pub(crate) fn server_full(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "53300")
}

/// Where every statement built from text is executed: one round trip, simple protocol.
pub(crate) async fn run(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(|_| ())
}

/// [`run`], its error told as this crate's about `database`.
pub(crate) async fn exec(
    conn: &mut PgConnection,
    sql: String,
    database: &str,
) -> Result<(), Error> {
    run(conn, sql)
        .await
        .map_err(Error::sql("running", database))
}

/// Quotes an identifier for SQL: wraps it in double quotes and doubles the double quotes it
/// contains. Every identifier this crate puts into SQL goes through here (or through
/// Postgres' own `format('%I')`).
///
/// # Examples
///
/// ```
/// use fixtures_postgres::catalog::quote_ident;
///
/// assert_eq!(quote_ident("users"), r#""users""#);
/// assert_eq!(quote_ident(r#"say "hi""#), r#""say ""hi""""#);
/// ```
pub fn quote_ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A string literal: `it's` → `'it''s'` (standard-conforming strings, as every supported
/// server has them on).
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The server's message with its detail and position, as a user wants to read it.
pub(crate) fn db_message(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => {
            let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
            match pg {
                Some(pg) => {
                    let mut m = format!("{} (SQLSTATE {})", pg.message(), pg.code());
                    if let Some(d) = pg.detail() {
                        m += &format!("; detail: {d}");
                    }
                    if let Some(h) = pg.hint() {
                        m += &format!("; hint: {h}");
                    }
                    m
                }
                None => db.message().to_owned(),
            }
        }
        other => other.to_string(),
    }
}
