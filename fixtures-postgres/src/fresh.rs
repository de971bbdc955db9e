//! Test scope, the cleanest: a fresh clone of the template for each test, dropped after it.
//!
//! Clones are prepared ahead ("warm") in the background and claimed by renaming them, which
//! is atomic across processes: under nextest the clones one test process prepared serve the
//! next ones.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use fixtures_core::Setup;
use sqlx::PgConnection;

use crate::config;
use crate::database::TestDb;
use crate::drops;
use crate::error::Error;
use crate::mark::{self, Kind};
use crate::names;
use crate::server::PgServer;
use crate::sql::{exec, quote_ident};
use crate::template::Databases;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn warm_prefix(template: &str) -> String {
    let hash = template.strip_prefix("fxt_").unwrap_or(template);
    format!("fxw_{}_", hash.get(..12).unwrap_or(hash))
}

fn unique() -> String {
    format!(
        "{}:{}:{}:{:?}",
        fixtures_core::run_id(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        Instant::now()
    )
}

impl Databases {
    /// A fresh database for this test: a clone of the template (migrations applied once),
    /// dropped after the test — or kept, when it failed and `FIXTURES_PG_KEEP_FAILED=1`.
    ///
    /// # Errors
    ///
    /// Template, clone or connection errors.
    // Written out (not `async fn`) to declare the future `Send`: fixtures box it as `Send`,
    // and saying so here checks it where it is defined.
    #[allow(clippy::manual_async_fn)]
    pub fn fresh<'a>(
        &'a self,
        server: &'a PgServer,
        setup: &'a Setup,
    ) -> impl Future<Output = Result<TestDb, Error>> + Send + 'a {
        async move {
            config::warm()?;
            let template = self.template(server).await?;
            let label = setup.test().unwrap_or(setup.instance()).to_owned();
            let name = names::database_name("fx_", &label, &[&label, &unique()]);
            // The test's pool counts in the connection budget until its database is dropped.
            let units = server
                .budget()
                .admit(config::pool_max()?, &format!("test `{label}`"))
                .await?;
            let pool = server.admin_pool();
            let mut admin = server.admin_conn().await?;
            let start = Instant::now();
            let claimed = claim_warm(&mut admin, &template, &name).await?;
            if !claimed {
                create_clone(
                    &mut admin,
                    &template,
                    server.clone_clause(),
                    &name,
                    Kind::Test,
                )
                .await?;
            }
            let role_mark = if self.role_per_test {
                format!(" role={}", crate::role::role_name(&name))
            } else {
                String::new()
            };
            exec(
                &mut admin,
                mark::comment_sql(
                    &name,
                    Kind::Test,
                    &format!("template={template}{role_mark}"),
                ),
                &name,
            )
            .await?;
            let role = match self.role_per_test {
                true => Some(crate::role::grant(server, &mut admin, &name).await?),
                false => None,
            };
            server.recycle(admin).await;
            tracing::debug!(database = %name, claimed, elapsed = ?start.elapsed(), "fresh database");
            refill_warm(server, &template);

            let (url, options) = match &role {
                Some(r) => (
                    server.url_as(&r.name, &r.password, &name),
                    server
                        .connect_options(&name)
                        .username(&r.name)
                        .password(&r.password),
                ),
                None => (server.url(&name), server.connect_options(&name)),
            };
            let db = TestDb::new(name.clone(), url.clone(), options, config::pool_max()?);
            let role = role.map(|r| r.name);
            let test = setup.test().map(str::to_owned);
            setup.on_teardown_async("drop the test database", move || async move {
                // In the background: the next test need not wait for the drop. `pg_server`'s
                // teardown waits for the drops still running.
                drops::in_background(async move {
                    let keep = config::keep_failed()
                        && test.as_deref().is_some_and(fixtures_core::test_failed);
                    let result = match pool.acquire().await {
                        Ok(mut admin) if keep => {
                            keep_database(&mut admin, &name, &url, test.as_deref()).await
                        }
                        Ok(mut admin) => match mark::drop_ours(&mut admin, &name).await {
                            Ok(()) => match &role {
                                Some(r) => crate::role::drop_role(&mut admin, r).await,
                                None => Ok(()),
                            },
                            e => e,
                        },
                        Err(e) => Err(Error::sql("connecting", "postgres")(e)),
                    };
                    if let Err(e) = result {
                        tracing::warn!("cannot drop test database {name}: {e}");
                    }
                    drop(units);
                });
            });
            Ok(db)
        }
    }
}

/// `CREATE DATABASE name TEMPLATE template` + `clause` ([`PgServer::clone_clause`]), marked.
pub(crate) async fn create_clone(
    admin: &mut PgConnection,
    template: &str,
    clause: &str,
    name: &str,
    kind: Kind,
) -> Result<(), Error> {
    let rest = format!("TEMPLATE {}{clause}", quote_ident(template));
    mark::create(admin, name, &rest, kind, &format!("template={template}")).await
}

/// Takes a warm clone by renaming it; false when none was free.
async fn claim_warm(admin: &mut PgConnection, template: &str, name: &str) -> Result<bool, Error> {
    let candidates: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname LIMIT 8",
    )
    .bind(warm_prefix(template))
    .fetch_all(&mut *admin)
    .await
    .map_err(Error::sql("listing warm databases", name))?;
    for warm in candidates {
        let sql = format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(&warm),
            quote_ident(name)
        );
        // Fails when another process renamed it first: try the next one.
        if sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *admin)
            .await
            .is_ok()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Tops the warm clones of `template` up to `FIXTURES_PG_WARM`, in the background (one refill
/// at a time per process).
fn refill_warm(server: &PgServer, template: &str) {
    static BUSY: AtomicBool = AtomicBool::new(false);
    let target = i64::from(config::warm().unwrap_or(0)); // checked in `fresh`
    if target == 0 || BUSY.swap(true, Ordering::AcqRel) {
        return;
    }
    // External servers keep no caches of ours after the run (see `sweep`).
    crate::sweep::drop_warm_at_exit(server, &BUSY);
    let pool = server.admin_pool();
    let template = template.to_owned();
    let clause = server.clone_clause();
    // Counted with the background drops: the server's teardown waits for the database being
    // made (created, then marked) and starts no other.
    let pending = drops::Pending::new();
    fixtures_core::runtime::handle().spawn(async move {
        let _pending = pending;
        let result: Result<(), Error> = async {
            let mut admin = pool
                .acquire()
                .await
                .map_err(Error::sql("connecting", "postgres"))?;
            let prefix = warm_prefix(&template);
            let have: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)",
            )
            .bind(&prefix)
            .fetch_one(&mut *admin)
            .await
            .map_err(Error::sql("counting warm databases", &template))?;
            for _ in have..target {
                if drops::closing() {
                    break;
                }
                let name = format!("{prefix}{}", names::digest(&[&unique()], 16));
                create_clone(&mut admin, &template, clause, &name, Kind::Warm).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::debug!("warm pool refill: {e}");
        }
        BUSY.store(false, Ordering::Release);
    });
}

/// Keeps a failed test's database for debugging, marked with an expiry, and says how to open it.
async fn keep_database(
    admin: &mut PgConnection,
    name: &str,
    url: &str,
    test: Option<&str>,
) -> Result<(), Error> {
    mark::ensure_ours(admin, name, "keep").await?;
    let ttl = config::keep_ttl()?;
    let expires = mark::now() + ttl.as_secs();
    exec(
        admin,
        mark::comment_sql(name, Kind::Kept, &format!("expires={expires}")),
        name,
    )
    .await?;
    let msg = format!(
        "fixtures-postgres: kept the database of failed test `{}` for {:?}:\n    {}\n",
        test.unwrap_or("?"),
        ttl,
        crate::psql::command(url)
    );
    use std::io::Write;
    let _ = std::io::stderr().write_all(msg.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_clones_are_named_after_their_template() {
        let p = warm_prefix("fxt_0123456789abcdef0123");
        assert_eq!(p, "fxw_0123456789ab_");
        assert!(p.len() < 20);
    }
}
