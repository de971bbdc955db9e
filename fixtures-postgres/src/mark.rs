//! The mark every database of ours carries, and the safeguard that checks it.
//!
//! The mark is the database's comment (`COMMENT ON DATABASE`), written when the framework
//! creates it: `fixtures-managed kind=… run=… owner=… ns=… created=…` (`ns`: where the owner's
//! pid means something, see `ProcessRef::namespace`; marks of older versions have none). Before cleaning or dropping,
//! the live catalog is asked for it: an environment variable cannot vouch for a database, the
//! database itself can.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::PgConnection;

use crate::catalog::quote_ident;
use crate::error::Error;

const PREFIX: &str = "fixtures-managed ";

/// What a database is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Template,
    Warm,
    Test,
    Shared,
    Kept,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Template => "template",
            Kind::Warm => "warm",
            Kind::Test => "test",
            Kind::Shared => "shared",
            Kind::Kept => "kept",
        }
    }
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The comment text for a database of ours.
pub(crate) fn text(kind: Kind, extra: &str) -> String {
    format!(
        "{PREFIX}kind={} run={} owner={} ns={} created={}{}{}",
        kind.as_str(),
        fixtures_core::run_id(),
        fixtures_core::watchdog::run_owner(),
        fixtures_core::watchdog::ProcessRef::namespace(),
        now(),
        if extra.is_empty() { "" } else { " " },
        extra
    )
}

/// `COMMENT ON DATABASE … IS '…'` (the text holds no quote: it is built from safe parts).
pub(crate) fn comment_sql(database: &str, kind: Kind, extra: &str) -> String {
    let text = text(kind, extra).replace('\'', "''");
    format!("COMMENT ON DATABASE {} IS '{text}'", quote_ident(database))
}

/// The prefix of the name a database is made under, before it is marked and renamed (see
/// [`create`]).
pub(crate) const CREATING: &str = "fxc_";

/// The name database `name` is made under by this run: it says which run makes it (its keeper
/// key), so that a sweep can tell one left by a process killed between the creation and the
/// mark from one being made.
pub(crate) fn creating_name(name: &str) -> String {
    let key = crate::keeper::run_key(fixtures_core::run_id()) as u64;
    format!("{CREATING}{key:016x}_{}", crate::names::digest(&[name], 16))
}

/// The run key a [`creating_name`] carries.
pub(crate) fn creating_run_key(name: &str) -> Option<i64> {
    let hex = name.strip_prefix(CREATING)?.get(..16)?;
    u64::from_str_radix(hex, 16).ok().map(|k| k as i64)
}

/// `CREATE DATABASE name <rest>` and its mark (`kind`, `extra`), as one step for anyone who
/// looks: the database is made under [`creating_name`], marked, then renamed — a process
/// that ends between the creation and the mark leaves a database whose name says whose it
/// was, not an unmarked one no sweep may touch.
pub(crate) async fn create(
    conn: &mut PgConnection,
    name: &str,
    rest: &str,
    kind: Kind,
    extra: &str,
) -> Result<(), Error> {
    let temp = creating_name(name);
    // CREATE DATABASE cannot share a query string (an implicit transaction) with another.
    for sql in [
        format!("CREATE DATABASE {} {rest}", quote_ident(&temp)),
        comment_sql(&temp, kind, extra),
        format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&temp),
            quote_ident(name)
        ),
    ] {
        if let Err(e) = crate::sql::run(conn, sql).await {
            // Not left half made (a mark on the temporary name is ours to drop).
            let _ = crate::sql::run(
                conn,
                format!("DROP DATABASE IF EXISTS {}", quote_ident(&temp)),
            )
            .await;
            return Err(Error::sql("creating", name)(e));
        }
    }
    Ok(())
}

/// The value of `key=` in a mark.
pub(crate) fn field<'a>(mark: &'a str, key: &str) -> Option<&'a str> {
    mark.strip_prefix(PREFIX)?
        .split(' ')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// The mark of `database`, if it exists and carries one.
pub(crate) async fn read(conn: &mut PgConnection, database: &str) -> Result<Option<String>, Error> {
    let comment: Option<Option<String>> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
    )
    .bind(database)
    .fetch_optional(&mut *conn)
    .await
    .map_err(Error::sql("reading the mark", database))?;
    Ok(comment.flatten().filter(|c| c.starts_with(PREFIX)))
}

/// Refuses (with [`Error::NotOurs`]) unless `database` carries our mark.
pub(crate) async fn ensure_ours(
    conn: &mut PgConnection,
    database: &str,
    action: &'static str,
) -> Result<String, Error> {
    read(conn, database).await?.ok_or_else(|| Error::NotOurs {
        action,
        database: database.to_owned(),
    })
}

/// Drops `database` after checking the mark (`WITH (FORCE)`: a test's leftover connections do
/// not block it).
pub(crate) async fn drop_ours(conn: &mut PgConnection, database: &str) -> Result<(), Error> {
    ensure_ours(conn, database, "drop").await?;
    end_sessions(conn, database).await;
    let sql = format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(database)
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map_err(Error::sql("dropping", database))?;
    Ok(())
}

/// Ends the other sessions on `database` and waits (up to 2 s) until they are gone.
///
/// `DROP DATABASE … WITH (FORCE)` does the same, but then re-checks for remaining sessions
/// only every 100 ms: a test's pool still connected at teardown cost each test 100 ms.
pub(crate) async fn end_sessions(conn: &mut PgConnection, database: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        // Counts the sessions still there, signalling them (again: harmless) on the way.
        let left: Result<i64, _> = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(database)
        .fetch_one(&mut *conn)
        .await;
        match left {
            Ok(0) => return,
            Ok(_) if std::time::Instant::now() < deadline => {}
            // Left to `WITH (FORCE)`.
            _ => return,
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_carry_their_fields() {
        let t = text(Kind::Shared, "template=fxt_ab");
        assert!(t.starts_with(PREFIX));
        assert_eq!(field(&t, "kind"), Some("shared"));
        assert_eq!(field(&t, "template"), Some("fxt_ab"));
        assert_eq!(field(&t, "run"), Some(fixtures_core::run_id()));
        assert_eq!(field("not ours kind=test", "kind"), None);
    }

    #[test]
    fn a_creating_name_says_whose_run_makes_it() {
        let temp = creating_name("fxs_suite_1_abc");
        assert!(temp.starts_with(CREATING) && temp.len() <= 63, "{temp}");
        assert_eq!(
            creating_run_key(&temp),
            Some(crate::keeper::run_key(fixtures_core::run_id()))
        );
        assert_eq!(creating_run_key("fxs_suite"), None);
    }

    #[test]
    fn comment_sql_quotes_the_database() {
        let sql = comment_sql("we\"ird", Kind::Test, "");
        assert!(
            sql.starts_with("COMMENT ON DATABASE \"we\"\"ird\" IS 'fixtures-managed kind=test"),
            "{sql}"
        );
    }
}
