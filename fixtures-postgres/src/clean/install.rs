//! What `prepare` installs in a shared database: the `_fixtures` schema with the dirty-table
//! tracking and the cleaning function (PL/pgSQL, so that a clean is one round trip). The SQL
//! itself is in `objects.rs` and `cleaner.rs`.
//!
//! - `dirty` (unlogged): the `oid`s of the tables written since the last clean. A
//!   statement-level trigger `_fixtures_track` (`AFTER INSERT OR UPDATE`, enabled `ALWAYS` so
//!   that it also fires under `session_replication_role = replica`) on every user table records
//!   `TG_RELID` there, once per clean. Only `INSERT` can put rows into an empty table (also
//!   through `COPY`, `MERGE`, `INSERT … ON CONFLICT`, rules, views and triggers, which all fire
//!   the target's statement triggers); `UPDATE` is tracked for partitioned tables, where it can
//!   move rows into another partition (the written parent then stands for its partitions).
//!   `DELETE` and `TRUNCATE` cannot add rows: not tracked.
//! - `settings`: whether this role may set `session_replication_role` (superuser, or
//!   `GRANT SET ON PARAMETER`) and whether the DDL watch is installed.
//! - `epoch` (a sequence) and the event trigger `_fixtures_ddl` (a superuser only): every DDL
//!   command in the database moves the epoch; `scope` (unlogged) caches what the last catalog
//!   listing found until the epoch moves. Without the event trigger the catalog is listed at
//!   every clean.
//! - `scope_of(only, except)`, `watch(rels)`, `arm(track)`, `clean(mode, only, except)`.
//!
//! The script replaces an installation of another version (dropping `_fixtures` with its
//! triggers) and leaves one of this version alone; either way it then runs `arm`.

use super::{cleaner, objects, restore};
use crate::catalog::selection_ctes;
use crate::sql::quote_literal as sql_literal;

/// Bumped whenever the installed objects change: a database prepared by another version is
/// reinstalled.
pub(crate) const VERSION: &str = "2";

/// The name of the tracking trigger on every user table.
pub(crate) const TRACK_TRIGGER: &str = "_fixtures_track";

/// A written table of at least this many pages (8 kB; heap and TOAST) per table its
/// `TRUNCATE … CASCADE` would empty is truncated instead of deleted from. Measured here (tmpfs,
/// fsync off): `DELETE` under replica costs ~0.06–0.08 ms per page of rows, `TRUNCATE` ~1 ms
/// per table (its files are replaced at commit); they break even near 13–16 pages (~1,000
/// narrow rows).
pub(crate) const TRUNCATE_PAGES_PER_TABLE: u32 = 16;

/// The `DELETE` keeps the foreign keys checked (no `session_replication_role` switch, which
/// makes Postgres forget the session's cached plans: ~0.5 ms to plan the function again) while
/// the written tables that foreign keys point at hold at most this many rows in all (each
/// costs a check of ~0.01 ms).
pub(crate) const CHECKED_DELETE_MAX_ROWS: u32 = 64;

/// The `SET` clauses of the functions that query the catalog. Their recursive queries look
/// expensive to the planner: with JIT on (the default) it compiles them, ~70 ms a time, and a
/// custom plan per call costs ~4 ms of planning; one generic plan, kept, is right for them.
const FUNCTION_SETTINGS: &str = "SET jit = off SET plan_cache_mode = force_generic_plan";

/// The SQL `prepare` runs, in one round trip and one transaction: (re)installs the objects
/// unless this version is installed, then arms them (`track`: install the triggers and mark
/// every table written, for the `Auto` strategy).
pub(crate) fn prepare_script(track: bool) -> String {
    let objects = [
        objects::SCHEMA,
        objects::SCOPE_OF,
        objects::WATCH_AND_ARM,
        restore::SNAPSHOT,
        cleaner::CLEAN,
        restore::GUARDS,
    ]
    .concat()
    .replace("{{SELECTION}}", &selection_ctes("p_only", "p_except"))
    .replace("{{TRIGGER}}", TRACK_TRIGGER)
    .replace("{{PAGES}}", &TRUNCATE_PAGES_PER_TABLE.to_string())
    .replace("{{ROWS}}", &CHECKED_DELETE_MAX_ROWS.to_string())
    .replace("{{SETTINGS}}", FUNCTION_SETTINGS)
    .replace("{{MARKER}}", &sql_literal(&marker()));
    format!(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('_fixtures.prepare'));
DO $install$
BEGIN
  IF (SELECT pg_catalog.obj_description(oid, 'pg_namespace') FROM pg_catalog.pg_namespace
      WHERE nspname = '_fixtures') IS NOT DISTINCT FROM {marker} THEN
    RETURN;
  END IF;
  EXECUTE {objects};
END
$install$;
SELECT _fixtures.arm({track});",
        marker = sql_literal(&marker()),
        objects = dollar_quote("objects", &objects),
    )
}

/// The comment `_fixtures` carries, which says which version installed it.
fn marker() -> String {
    format!(
        "fixtures-postgres {VERSION}: tracks the tables written between cleans; dropping it is safe"
    )
}

/// A dollar-quoted literal with a tag the text does not contain.
fn dollar_quote(tag: &str, text: &str) -> String {
    let mut tag = tag.to_string();
    while text.contains(&format!("${tag}$")) {
        tag.push('x');
    }
    format!("${tag}${text}${tag}$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_fills_every_placeholder() {
        let script = prepare_script(true);
        assert!(!script.contains("{{"), "unfilled placeholder");
        assert!(script.contains("WITH RECURSIVE tbl AS ("));
        assert!(script.contains("tgname = '_fixtures_track'"));
        assert!(script.contains(&format!("v_pages >= {TRUNCATE_PAGES_PER_TABLE}")));
        assert!(script.contains(&format!("LIMIT {CHECKED_DELETE_MAX_ROWS} + 1")));
    }

    #[test]
    fn the_marker_in_the_check_matches_the_comment_it_installs() {
        let script = prepare_script(false);
        assert!(script.contains(&format!("IS NOT DISTINCT FROM '{}'", marker())));
        assert!(script.contains(&format!("COMMENT ON SCHEMA _fixtures IS '{}'", marker())));
    }

    #[test]
    fn the_script_arms_with_or_without_tracking() {
        assert!(prepare_script(true).ends_with("SELECT _fixtures.arm(true);"));
        assert!(prepare_script(false).ends_with("SELECT _fixtures.arm(false);"));
    }

    #[test]
    fn the_script_takes_a_lock_before_looking() {
        let script = prepare_script(true);
        let lock = script.find("pg_advisory_xact_lock").unwrap();
        let check = script.find("obj_description").unwrap();
        assert!(lock < check);
    }

    #[test]
    fn every_object_lives_in_the_fixtures_schema() {
        let script = prepare_script(true);
        for line in script.lines() {
            let line = line.trim_start();
            for kind in [
                "CREATE TABLE ",
                "CREATE UNLOGGED TABLE ",
                "CREATE FUNCTION ",
                "CREATE SEQUENCE ",
            ] {
                if let Some(rest) = line.strip_prefix(kind) {
                    assert!(rest.starts_with("_fixtures."), "{line}");
                }
            }
        }
    }

    #[test]
    fn dollar_quotes_pick_a_tag_the_text_does_not_contain() {
        assert_eq!(dollar_quote("q", "a"), "$q$a$q$");
        assert_eq!(dollar_quote("q", "x $q$ y"), "$qx$x $q$ y$qx$");
        assert!(!prepare_script(true).contains("$objectsx$"));
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(sql_literal("it's"), "'it''s'");
    }
}
