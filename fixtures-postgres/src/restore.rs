//! The same starting state in every scope: module and suite scope's databases ("lanes") are
//! clones of a *prepared template* — the template (migrations and seed) plus the `_fixtures`
//! snapshot of what it holds — so that each clean can put the template's rows, sequences and
//! materialized views back in place ([`crate::clean`]). A lane that cannot be restored in
//! place (a test ran DDL, dropped the framework's objects, …) is *replaced* by a fresh clone
//! of the prepared template under the same name, and a failed test's lane is set aside (kept)
//! the same way.
//!
//! A replacement ends every session on the lane, also those of other processes of the run
//! waiting for their turn: they find it again through [`reconnect`].

use std::collections::HashSet;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::catalog::quote_ident;
use crate::clean::{self, CleanOptions, CleanStrategy};
use crate::error::Error;
use crate::fresh::create_clone;
use crate::mark::{self, Kind};
use crate::names;
use crate::sql::exec;

/// How long a process waits for a lane that another process is replacing.
const RECONNECT_DEADLINE: Duration = Duration::from_secs(60);

/// The template the lanes of `clean` are cloned from: for `Auto` and `Delete`, the prepared
/// template of `template` (made once, under a lock, by the first process that needs it, and
/// kept like the template); for `Truncate` and `None`, `template` itself. Remembered per
/// process; with `look_again`, looked for (and made) again: another run's sweep may have
/// dropped it since (an external server keeps no caches of finished runs).
///
/// `admin`: a connection to the server's maintenance database, whose connect options are
/// `options`; `clause`: the server's clone clause.
pub(crate) async fn lane_source(
    admin: &mut PgConnection,
    options: &PgConnectOptions,
    clause: &'static str,
    template: &str,
    clean: &CleanOptions,
    look_again: bool,
) -> Result<String, Error> {
    static KNOWN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let track = match clean.strategy {
        CleanStrategy::Auto => "auto",
        CleanStrategy::Delete => "delete",
        CleanStrategy::Truncate | CleanStrategy::None => return Ok(template.to_owned()),
    };
    let name = format!(
        "fxp_{}",
        names::digest(&[template, clean::VERSION, track], 24)
    );
    let key = format!("{}:{}/{name}", options.get_host(), options.get_port());
    if !look_again && KNOWN.lock().get_or_insert_with(HashSet::new).contains(&key) {
        return Ok(name);
    }
    let ready = |m: &Option<String>| {
        m.as_deref()
            .is_some_and(|m| mark::field(m, "state") == Some("ready"))
    };
    if !ready(&mark::read(&mut *admin, &name).await?) {
        names::advisory_lock(&mut *admin, &name)
            .await
            .map_err(Error::sql("locking the prepared template", &name))?;
        let built = async {
            let existing = mark::read(&mut *admin, &name).await?;
            if ready(&existing) {
                return Ok(());
            }
            if existing.is_some() {
                // A preparation that was interrupted: start over.
                mark::drop_ours(&mut *admin, &name).await?;
            }
            prepare_template(options, clause, &mut *admin, template, &name, clean).await
        }
        .await;
        names::advisory_unlock(&mut *admin, &name).await;
        built?;
    }
    KNOWN.lock().get_or_insert_with(HashSet::new).insert(key);
    Ok(name)
}

async fn prepare_template(
    options: &PgConnectOptions,
    clause: &str,
    admin: &mut PgConnection,
    template: &str,
    name: &str,
    clean: &CleanOptions,
) -> Result<(), Error> {
    let start = Instant::now();
    let fields = format!("template={template}");
    mark::create(
        admin,
        name,
        &format!("TEMPLATE {}{}", quote_ident(template), clause),
        Kind::Template,
        &format!("state=building {fields}"),
    )
    .await?;
    let mut conn = crate::sql::connect(&options.clone().database(name))
        .await
        .map_err(Error::sql("connecting", name))?;
    let prepared = clean::prepare(&mut conn, clean).await;
    let _ = conn.close().await;
    prepared.map_err(|source| Error::Restore {
        database: name.to_owned(),
        message: format!(
            "cannot take the snapshot of the template `{template}` that module and suite scope \
             restore before each test: {}",
            crate::sql::db_message(&source)
        ),
    })?;
    exec(
        admin,
        format!(
            "{}; ALTER DATABASE {} IS_TEMPLATE true",
            mark::comment_sql(name, Kind::Template, &format!("state=ready {fields}")),
            quote_ident(name)
        ),
        name,
    )
    .await?;
    tracing::info!(database = name, elapsed = ?start.elapsed(), "prepared template (snapshot for module and suite scope)");
    Ok(())
}

/// What to do with the lane's current database when it is replaced.
pub(crate) enum Old<'a> {
    /// Drop it.
    Drop,
    /// Keep it for debugging (a failed test's): renamed, marked kept, a `psql` command printed.
    Keep {
        /// The failed test.
        test: &'a str,
        /// The server's URL without a database name.
        url_prefix: &'a str,
    },
}

/// The spare clone of `source` kept ready for lane `name` (a warm clone: claimed by a rename).
pub(crate) fn spare_name(name: &str) -> String {
    names::database_name("fxw_", name, &[name, "spare"])
}

/// Makes the spare clone of lane `name` in the background, for its next replacement.
pub(crate) fn make_spare(
    admin: PgConnectOptions,
    name: &str,
    source: String,
    clause: &'static str,
) {
    let (spare, name) = (spare_name(name), name.to_owned());
    fixtures_core::runtime::handle().spawn(async move {
        let made = async {
            let mut conn = crate::sql::connect(&admin)
                .await
                .map_err(Error::sql("connecting", "postgres"))?;
            let made = create_clone(&mut conn, &source, clause, &spare, Kind::Warm).await;
            let _ = conn.close().await;
            made
        }
        .await;
        if let Err(e) = made {
            tracing::debug!(
                database = name,
                "no spare clone for the next replacement: {e}"
            );
        }
    });
}

/// Replaces lane `name` by a fresh clone of `source` under the same name (under the lane
/// name's advisory lock on the maintenance database, which [`open_lane`] creators take too),
/// then connects `conn` to it again (without the turn's lock). The clone is the lane's spare
/// when there is one (two renames; the old database is dropped in the background, as a drop
/// waits for a checkpoint); otherwise it is made now.
///
/// [`open_lane`]: crate::shared
pub(crate) async fn replace(
    admin_options: &PgConnectOptions,
    conn: &mut PgConnection,
    name: &str,
    source: &str,
    clause: &'static str,
    old: Old<'_>,
) -> Result<(), Error> {
    let start = Instant::now();
    let mut admin = crate::sql::connect(admin_options)
        .await
        .map_err(Error::sql("connecting", "postgres"))?;
    names::advisory_lock(&mut admin, name)
        .await
        .map_err(Error::sql("locking", name))?;
    let result = async {
        match old {
            Old::Drop => {
                mark::ensure_ours(&mut admin, name, "drop").await?;
                let doomed = names::database_name("fxd_", name, &[name, &unique()]);
                mark::end_sessions(&mut admin, name).await;
                rename(&mut admin, name, &doomed).await?;
                crate::drops::drop_later(admin_options.clone(), doomed);
            }
            Old::Keep { test, url_prefix } => keep_lane(&mut admin, name, test, url_prefix).await?,
        }
        let spare = spare_name(name);
        let claimed = mark::read(&mut admin, &spare).await?.is_some()
            && rename(&mut admin, &spare, name).await.is_ok();
        if claimed {
            let mark = mark::comment_sql(name, Kind::Shared, &format!("template={source}"));
            exec(&mut admin, mark, name).await
        } else {
            create_clone(&mut admin, source, clause, name, Kind::Shared).await
        }
    }
    .await;
    names::advisory_unlock(&mut admin, name).await;
    let _ = admin.close().await;
    result?;
    *conn = connect_lane(admin_options, name).await?;
    make_spare(admin_options.clone(), name, source.to_owned(), clause);
    tracing::debug!(database = name, elapsed = ?start.elapsed(), "shared database replaced by a fresh clone");
    Ok(())
}

async fn rename(admin: &mut PgConnection, from: &str, to: &str) -> Result<(), Error> {
    let sql = format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(from),
        quote_ident(to)
    );
    exec(admin, sql, from).await
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}:{}:{n}:{:?}",
        fixtures_core::run_id(),
        std::process::id(),
        Instant::now()
    )
}

/// Renames a failed test's lane aside, marks it kept and says how to open it.
async fn keep_lane(
    admin: &mut PgConnection,
    name: &str,
    test: &str,
    url_prefix: &str,
) -> Result<(), Error> {
    mark::ensure_ours(admin, name, "keep").await?;
    let kept = names::database_name("fxk_", test, &[name, test, &mark::now().to_string()]);
    mark::end_sessions(admin, name).await;
    rename(admin, name, &kept).await?;
    let ttl = crate::config::keep_ttl()?;
    let expires = mark::now() + ttl.as_secs();
    exec(
        admin,
        mark::comment_sql(&kept, Kind::Kept, &format!("expires={expires}")),
        &kept,
    )
    .await?;
    let msg = format!(
        "fixtures-postgres: kept the shared database of failed test `{test}` for {ttl:?} (the \
         next test gets a fresh clone):\n    {}\n",
        crate::psql::command(&format!("{url_prefix}{kept}"))
    );
    use std::io::Write;
    let _ = std::io::stderr().write_all(msg.as_bytes());
    Ok(())
}

/// A new framework connection to lane `name`: waits (up to a minute) while another process is
/// replacing it (the database missing or not marked yet).
pub(crate) async fn connect_lane(
    admin_options: &PgConnectOptions,
    name: &str,
) -> Result<PgConnection, Error> {
    let deadline = Instant::now() + RECONNECT_DEADLINE;
    loop {
        let attempt = async {
            let mut conn = crate::sql::connect(&admin_options.clone().database(name))
                .await
                .map_err(Error::sql("connecting", name))?;
            mark::ensure_ours(&mut conn, name, "use").await?;
            sqlx::raw_sql("SET lock_timeout = '300s'")
                .execute(&mut conn)
                .await
                .map_err(Error::sql("configuring the connection", name))?;
            // The cleans on this connection run as a replica where the role may: switching
            // the role at every clean would make Postgres forget the cached plans each time.
            let _ = sqlx::raw_sql("SET session_replication_role = replica")
                .execute(&mut conn)
                .await;
            Ok::<_, Error>(conn)
        }
        .await;
        match attempt {
            Ok(conn) => return Ok(conn),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Whether an error says the connection or its database is gone (ended by another process's
/// replacement of the lane): then [`connect_lane`] again.
pub(crate) fn is_gone(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || c.starts_with("57P") || c == "3D000" /* no such database */
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_connection_is_gone_a_constraint_is_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_gone(&io));
        assert!(!is_gone(&sqlx::Error::RowNotFound));
    }
}
