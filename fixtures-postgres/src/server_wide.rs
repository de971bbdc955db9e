//! What no scope can restore: objects of the whole server — roles, tablespaces, databases that
//! are not ours — a test created. Each process notes what the server holds when it starts
//! using it and, when it stops, names what appeared since, once, with a hint: such objects
//! are shared by every later test (and run), whatever their scope.

use std::collections::BTreeSet;

use fixtures_core::Setup;

/// Roles (not the tests' own, `fxr_…`), tablespaces and unmarked databases, as `kind name`.
/// Databases named as the
/// framework names its own (`fxt_`, `fxs_`, `fxw_`, …) are left out: another process of the run
/// may be between creating one and marking it.
const OBJECTS: &str = "SELECT 'role ' || rolname FROM pg_roles WHERE oid >= 16384 AND rolname !~ '^fxr_' \
     UNION ALL SELECT 'tablespace ' || spcname FROM pg_tablespace WHERE oid >= 16384 \
     UNION ALL SELECT 'database ' || datname FROM pg_database \
       WHERE NOT datistemplate AND datname <> 'postgres' AND datname !~ '^fx[a-z]_' \
         AND coalesce(shobj_description(oid, 'pg_database'), '') NOT LIKE 'fixtures-managed %'";

async fn objects(pool: &sqlx::PgPool) -> Option<BTreeSet<String>> {
    let found: Vec<String> = sqlx::query_scalar(OBJECTS).fetch_all(pool).await.ok()?;
    Some(found.into_iter().collect())
}

/// Notes the server's objects now (`pool`: the server's maintenance database); at the
/// `pg_server` teardown, reports those that appeared.
pub(crate) async fn watch(pool: sqlx::PgPool, setup: &Setup) {
    let Some(before) = objects(&pool).await else {
        return;
    };
    setup.on_teardown_async(
        "report server-wide objects the tests created",
        move || async move {
            let Some(after) = objects(&pool).await else {
                return;
            };
            let new: Vec<&String> = after.difference(&before).collect();
            if let Some(text) = report(&new) {
                use std::io::Write;
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
        },
    );
}

/// The report of `new` objects, if any.
fn report(new: &[&String]) -> Option<String> {
    if new.is_empty() {
        return None;
    }
    let list: Vec<&str> = new.iter().map(|s| s.as_str()).collect();
    Some(format!(
        "fixtures-postgres: objects of the whole server appeared during this process's tests: \
         {}.\n  No scope restores these (they live outside any database): every later test \
         and run sees them. hint: create them in a migration or seed (roles: once, \
         `CREATE ROLE ... IF NOT EXISTS`-style), or drop them at the end of the test that \
         makes them.\n",
        list.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_each_new_object_once() {
        assert_eq!(report(&[]), None);
        let (a, b) = ("role tester".to_owned(), "database scratch".to_owned());
        let text = report(&[&a, &b]).unwrap();
        assert!(text.contains("role tester, database scratch"), "{text}");
    }
}
