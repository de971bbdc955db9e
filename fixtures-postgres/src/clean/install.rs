//! The objects `prepare` installs in a shared database: the `_fixtures` schema with the
//! dirty-table tracking and the cleaning function (PL/pgSQL, so that a clean is one round trip).
//!
//! What is installed (all of it in `_fixtures`, which the listings skip):
//! - `dirty` (unlogged): the `oid`s of the tables written since the last clean. A
//!   statement-level trigger `_fixtures_track` (`AFTER INSERT OR UPDATE`, enabled `ALWAYS` so
//!   that it also fires under `session_replication_role = replica`) on every user table records
//!   `TG_RELID` there, once. Only `INSERT` can put rows into an empty table (also through
//!   `COPY`, `MERGE`, rules, views and triggers, which all fire the target's statement triggers);
//!   `UPDATE` is tracked for partitioned tables, where it can move rows into another partition.
//! - `settings`: whether this role may set `session_replication_role` (superuser, or
//!   `GRANT SET ON PARAMETER`) and whether the DDL watch is installed.
//! - `epoch` (a sequence) and the event trigger `_fixtures_ddl` (needs a superuser): every
//!   DDL command in the database moves the epoch, and `scope` (unlogged) caches what the last
//!   catalog listing found until the epoch moves; without the event trigger the catalog is
//!   listed at every clean.
//! - `clean(mode, only, except)`: the cleaning itself (see `clean.rs`).
//! - `arm(track)`: run by every `prepare`: records the settings, installs the triggers on the
//!   tables that lack them and marks every table dirty (rows written before the triggers
//!   existed — a seed, a template's data — are cleaned by the first clean).
//!
//! The script replaces an installation of another version (dropping `_fixtures` with its
//! triggers) and does nothing to an installation of this version.

use crate::catalog::selection_ctes;

/// Bumped whenever the installed objects change: a database prepared by another version is
/// reinstalled.
pub(crate) const VERSION: &str = "1";

/// The name of the tracking trigger on every user table.
pub(crate) const TRACK_TRIGGER: &str = "_fixtures_track";

/// A dirty table of at least this many pages (8 kB; heap and TOAST) per table its
/// `TRUNCATE … CASCADE` would reach is truncated instead of deleted from. Measured here
/// (tmpfs, fsync off): `DELETE` costs ~0.06–0.08 ms per page of rows, `TRUNCATE` ~1 ms per
/// table (its files are replaced at commit); they break even near 13–16 pages (~1,000 narrow
/// rows).
pub(crate) const TRUNCATE_PAGES_PER_TABLE: u32 = 16;

/// The objects themselves; `{{SELECTION}}` is the catalog listing over `p_only` / `p_except`.
const OBJECTS: &str = r#"
DROP SCHEMA IF EXISTS _fixtures CASCADE;
CREATE SCHEMA _fixtures;
COMMENT ON SCHEMA _fixtures IS 'fixtures-postgres {{VERSION}}: tracks the tables written between cleans; dropping it is safe';
GRANT USAGE ON SCHEMA _fixtures TO PUBLIC;

CREATE TABLE _fixtures.settings (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  replica boolean NOT NULL,
  watch boolean NOT NULL
);

CREATE UNLOGGED TABLE _fixtures.dirty (relid oid PRIMARY KEY);
GRANT SELECT, INSERT ON _fixtures.dirty TO PUBLIC;

CREATE SEQUENCE _fixtures.epoch;

CREATE UNLOGGED TABLE _fixtures.scope (
  only_ text[] NOT NULL,
  except_ text[] NOT NULL,
  epoch bigint NOT NULL,
  rels oid[] NOT NULL,
  names text[] NOT NULL,
  kinds "char"[] NOT NULL,
  toasts oid[] NOT NULL,
  hooks boolean[] NOT NULL,
  untracked oid[] NOT NULL,
  seqs oid[] NOT NULL,
  seqnames text[] NOT NULL,
  seqstarts bigint[] NOT NULL,
  PRIMARY KEY (only_, except_)
);

CREATE FUNCTION _fixtures.track() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NOT EXISTS (SELECT FROM _fixtures.dirty WHERE relid = TG_RELID) THEN
    INSERT INTO _fixtures.dirty (relid) VALUES (TG_RELID) ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION _fixtures.ddl() RETURNS event_trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog AS $fn$
BEGIN
  IF pg_catalog.current_setting('fixtures.quiet', true) IS DISTINCT FROM 'on' THEN
    PERFORM pg_catalog.nextval('_fixtures.epoch');
  END IF;
END
$fn$;

-- The tables to clean for only/except: the selected tables, their partitions and children,
-- and (recursively) the tables whose foreign keys reference them: what
-- TRUNCATE <selected> CASCADE empties. With the owned sequences (serial, identity) that
-- TRUNCATE ... RESTART IDENTITY restarts.
CREATE FUNCTION _fixtures.scope_of(p_only text[], p_except text[]) RETURNS _fixtures.scope
LANGUAGE plpgsql AS $fn$
DECLARE
  s _fixtures.scope;
BEGIN
  s.only_ := p_only;
  s.except_ := p_except;
  s.epoch := 0;
  WITH RECURSIVE {{SELECTION}},
  down (oid) AS (
    SELECT oid FROM sel
    UNION
    SELECT i.inhrelid FROM down d JOIN pg_catalog.pg_inherits i ON i.inhparent = d.oid
  ),
  closure (oid) AS (
    SELECT oid FROM down
    UNION
    SELECT k.conrelid FROM closure x
      JOIN pg_catalog.pg_constraint k ON k.confrelid = x.oid AND k.contype = 'f'
  ),
  info AS (
    SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, c.relkind,
      c.reltoastrelid AS toast,
      c.relrowsecurity
        OR EXISTS (SELECT FROM pg_catalog.pg_trigger t
                   WHERE t.tgrelid = c.oid AND t.tgenabled IN ('A', 'R') AND t.tgtype & 8 <> 0)
        OR EXISTS (SELECT FROM pg_catalog.pg_rewrite w
                   WHERE w.ev_class = c.oid AND w.ev_type = '4' AND w.ev_enabled IN ('A', 'R'))
        AS hooks,
      NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                  WHERE g.tgrelid = c.oid AND g.tgname = '{{TRIGGER}}' AND g.tgenabled = 'A')
        AS untracked
    FROM closure x JOIN pg_catalog.pg_class c ON c.oid = x.oid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  )
  SELECT coalesce(array_agg(oid ORDER BY oid), '{}'), coalesce(array_agg(name ORDER BY oid), '{}'),
    coalesce(array_agg(relkind ORDER BY oid), '{}'), coalesce(array_agg(toast ORDER BY oid), '{}'),
    coalesce(array_agg(hooks ORDER BY oid), '{}'),
    coalesce(array_agg(oid ORDER BY oid) FILTER (WHERE untracked), '{}')
  INTO s.rels, s.names, s.kinds, s.toasts, s.hooks, s.untracked
  FROM info;

  SELECT coalesce(array_agg(q.seqrelid ORDER BY q.seqrelid), '{}'),
    coalesce(array_agg(q.name ORDER BY q.seqrelid), '{}'),
    coalesce(array_agg(q.seqstart ORDER BY q.seqrelid), '{}')
  INTO s.seqs, s.seqnames, s.seqstarts
  FROM (
    SELECT DISTINCT q.seqrelid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, q.seqstart
    FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_sequence q ON q.seqrelid = d.objid
      JOIN pg_catalog.pg_class c ON c.oid = q.seqrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = ANY (s.rels)
      AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')
  ) q;
  RETURN s;
END
$fn$;

-- Installs (or re-enables) the tracking trigger on the given tables; returns those it could
-- not (no privilege): they are treated as written at every clean.
CREATE FUNCTION _fixtures.watch(p_rels oid[]) RETURNS oid[] LANGUAGE plpgsql AS $fn$
DECLARE
  v_failed oid[] := '{}';
  v_rel oid;
  v_name text;
  v_enabled "char";
BEGIN
  PERFORM pg_catalog.set_config('fixtures.quiet', 'on', true);
  FOREACH v_rel IN ARRAY p_rels LOOP
    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO v_name
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = v_rel;
    CONTINUE WHEN v_name IS NULL;
    SELECT tgenabled INTO v_enabled FROM pg_catalog.pg_trigger
      WHERE tgrelid = v_rel AND tgname = '{{TRIGGER}}';
    CONTINUE WHEN v_enabled = 'A';
    BEGIN
      IF v_enabled IS NULL THEN
        EXECUTE 'CREATE TRIGGER {{TRIGGER}} AFTER INSERT OR UPDATE ON ' || v_name
          || ' FOR EACH STATEMENT EXECUTE FUNCTION _fixtures.track()';
      END IF;
      EXECUTE 'ALTER TABLE ' || v_name || ' ENABLE ALWAYS TRIGGER {{TRIGGER}}';
    EXCEPTION WHEN insufficient_privilege OR object_not_in_prerequisite_state THEN
      v_failed := v_failed || v_rel;
    END;
  END LOOP;
  PERFORM pg_catalog.set_config('fixtures.quiet', 'off', true);
  RETURN v_failed;
END
$fn$;

CREATE FUNCTION _fixtures.arm(p_track boolean) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  p_only text[] := '{}';
  p_except text[] := '{}';
  v_replica boolean := true;
  v_watch boolean;
  v_all oid[];
BEGIN
  BEGIN
    PERFORM pg_catalog.set_config('session_replication_role',
      pg_catalog.current_setting('session_replication_role'), true);
  EXCEPTION WHEN insufficient_privilege THEN
    v_replica := false;
  END;
  SELECT evtenabled = 'A' INTO v_watch FROM pg_catalog.pg_event_trigger WHERE evtname = '_fixtures_ddl';
  IF NOT FOUND THEN
    BEGIN
      CREATE EVENT TRIGGER _fixtures_ddl ON ddl_command_end EXECUTE FUNCTION _fixtures.ddl();
      ALTER EVENT TRIGGER _fixtures_ddl ENABLE ALWAYS;
      v_watch := true;
    EXCEPTION WHEN insufficient_privilege THEN
      v_watch := false;
    END;
  END IF;
  INSERT INTO _fixtures.settings (replica, watch) VALUES (v_replica, v_watch)
    ON CONFLICT (id) DO UPDATE SET replica = excluded.replica, watch = excluded.watch;
  DELETE FROM _fixtures.scope;
  IF p_track THEN
    WITH RECURSIVE {{SELECTION}}
    SELECT coalesce(array_agg(oid), '{}') INTO v_all FROM sel;
    PERFORM _fixtures.watch(v_all);
    INSERT INTO _fixtures.dirty (relid) SELECT pg_catalog.unnest(v_all) ON CONFLICT DO NOTHING;
  END IF;
END
$fn$;

-- Empties the tables of scope_of(p_only, p_except) that were written since the last clean
-- ('auto'; tables without a tracking trigger count as written) or all of them ('delete'),
-- and restarts their owned sequences that moved: the end state of
-- TRUNCATE <selected> RESTART IDENTITY CASCADE.
CREATE FUNCTION _fixtures.clean(p_mode text, p_only text[], p_except text[],
  OUT considered integer, OUT deleted text[], OUT truncated text[], OUT sequences text[],
  OUT note text)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_replica boolean;
  v_watch boolean;
  v_epoch bigint;
  v_fresh boolean := false;
  s _fixtures.scope;
  v_new oid[] := '{}';
  v_trunc oid[] := '{}';
  v_del oid[] := '{}';
  v_cascade oid[];
  v_rel oid;
  v_role text;
  v_messages text;
  r record;
  i integer;
BEGIN
  deleted := '{}';
  truncated := '{}';
  sequences := '{}';
  SELECT t.replica, t.watch INTO v_replica, v_watch FROM _fixtures.settings t;
  v_replica := coalesce(v_replica, false);
  v_watch := coalesce(v_watch, false);

  IF v_watch THEN
    SELECT e.last_value + e.is_called::integer INTO v_epoch FROM _fixtures.epoch e;
    SELECT * INTO s FROM _fixtures.scope c
      WHERE c.only_ = p_only AND c.except_ = p_except AND c.epoch = v_epoch;
  END IF;
  IF s.rels IS NULL THEN
    s := _fixtures.scope_of(p_only, p_except);
    s.epoch := coalesce(v_epoch, 0);
    v_fresh := true;
    DELETE FROM _fixtures.dirty d
      WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = d.relid);
  END IF;
  considered := pg_catalog.cardinality(s.rels);

  -- Tables without a working tracking trigger (created after prepare, or whose trigger was
  -- disabled) count as written; track them from now on.
  v_new := s.untracked;
  IF p_mode = 'auto' AND pg_catalog.cardinality(v_new) > 0 THEN
    s.untracked := _fixtures.watch(v_new);
    v_fresh := true;
  END IF;
  IF v_watch AND v_fresh THEN
    DELETE FROM _fixtures.scope c WHERE c.only_ = p_only AND c.except_ = p_except;
    INSERT INTO _fixtures.scope VALUES (s.*);
  END IF;

  FOR r IN
    WITH RECURSIVE d (oid) AS (
      SELECT relid FROM _fixtures.dirty
      UNION
      SELECT i.inhrelid FROM d JOIN pg_catalog.pg_inherits i ON i.inhparent = d.oid
    )
    SELECT u.oid, u.hooks,
      (pg_catalog.pg_relation_size(u.oid)
        + coalesce(pg_catalog.pg_relation_size(NULLIF(u.toast, 0::oid)), 0)) / 8192 AS pages
    FROM unnest(s.rels, s.kinds, s.toasts, s.hooks) AS u (oid, kind, toast, hooks)
    WHERE u.kind = 'r'
      AND (p_mode = 'delete' OR u.oid = ANY (v_new) OR u.oid IN (SELECT oid FROM d))
  LOOP
    CONTINUE WHEN r.oid = ANY (v_trunc);
    IF NOT v_replica OR r.hooks THEN
      v_trunc := v_trunc || r.oid;
    ELSIF p_mode = 'auto' AND r.pages >= {{PAGES}} THEN
      WITH RECURSIVE c (oid) AS (
        SELECT r.oid
        UNION
        SELECT k.conrelid FROM c
          JOIN pg_catalog.pg_constraint k ON k.confrelid = c.oid AND k.contype = 'f'
      )
      SELECT coalesce(array_agg(c.oid), '{}') INTO v_cascade
        FROM c JOIN pg_catalog.pg_class x ON x.oid = c.oid
        WHERE x.relkind = 'r' AND c.oid <> ALL (v_trunc);
      IF r.pages >= {{PAGES}} * pg_catalog.cardinality(v_cascade) THEN
        v_trunc := v_trunc || v_cascade;
      ELSE
        v_del := v_del || r.oid;
      END IF;
    ELSE
      v_del := v_del || r.oid;
    END IF;
  END LOOP;

  IF pg_catalog.cardinality(v_trunc) > 0 THEN
    -- What TRUNCATE ... CASCADE reaches, named explicitly (ONLY: children are listed
    -- themselves; partitioned tables cannot be ONLY and have no rows of their own).
    WITH RECURSIVE c (oid) AS (
      SELECT pg_catalog.unnest(v_trunc)
      UNION
      SELECT k.conrelid FROM c
        JOIN pg_catalog.pg_constraint k ON k.confrelid = c.oid AND k.contype = 'f'
    )
    SELECT array_agg(c.oid), array_agg(pg_catalog.format('%s%I.%I',
        CASE WHEN x.relkind = 'r' THEN 'ONLY ' ELSE '' END, n.nspname, x.relname)
        ORDER BY n.nspname, x.relname)
      INTO v_trunc, truncated
      FROM c JOIN pg_catalog.pg_class x ON x.oid = c.oid
        JOIN pg_catalog.pg_namespace n ON n.oid = x.relnamespace;
  END IF;

  IF v_replica AND pg_catalog.cardinality(v_trunc) + pg_catalog.cardinality(v_del) > 0 THEN
    v_role := pg_catalog.current_setting('session_replication_role');
    PERFORM pg_catalog.set_config('session_replication_role', 'replica', true);
  END IF;
  IF pg_catalog.cardinality(v_trunc) > 0 THEN
    v_messages := pg_catalog.current_setting('client_min_messages');
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
    EXECUTE 'TRUNCATE ' || pg_catalog.array_to_string(truncated, ', ') || ' CASCADE';
    PERFORM pg_catalog.set_config('client_min_messages', v_messages, true);
    SELECT array_agg(pg_catalog.regexp_replace(t, '^ONLY ', '')) INTO truncated
      FROM pg_catalog.unnest(truncated) t;
    IF NOT v_replica THEN
      note := 'this role may not set session_replication_role: the written tables were truncated';
    END IF;
  END IF;
  FOREACH v_rel IN ARRAY v_del LOOP
    CONTINUE WHEN v_rel = ANY (v_trunc);
    i := pg_catalog.array_position(s.rels, v_rel);
    EXECUTE 'DELETE FROM ONLY ' || s.names[i];
    deleted := deleted || s.names[i];
  END LOOP;
  IF v_role IS NOT NULL THEN
    PERFORM pg_catalog.set_config('session_replication_role', v_role, true);
  END IF;

  FOR i IN 1 .. pg_catalog.cardinality(s.seqs) LOOP
    IF pg_catalog.pg_sequence_last_value(s.seqs[i]) IS NOT NULL THEN
      PERFORM pg_catalog.setval(s.seqs[i], s.seqstarts[i], false);
      sequences := sequences || s.seqnames[i];
    END IF;
  END LOOP;

  DELETE FROM _fixtures.dirty WHERE relid = ANY (s.rels);
END
$fn$;
"#;

/// The SQL `prepare` runs, in one round trip and one transaction: (re)installs the objects
/// unless this version is installed, then arms them (`track`: install the triggers and mark
/// every table dirty, for the `Auto` strategy).
pub(crate) fn prepare_script(track: bool) -> String {
    let objects = OBJECTS
        .replace("{{SELECTION}}", &selection_ctes("p_only", "p_except"))
        .replace("{{TRIGGER}}", TRACK_TRIGGER)
        .replace("{{PAGES}}", &TRUNCATE_PAGES_PER_TABLE.to_string())
        .replace("{{VERSION}}", VERSION);
    let marker = marker();
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
        marker = sql_literal(&marker),
        objects = dollar_quote("objects", &objects),
    )
}

/// The comment `_fixtures` carries, which says which version installed it.
fn marker() -> String {
    format!(
        "fixtures-postgres {VERSION}: tracks the tables written between cleans; dropping it is safe"
    )
}

/// A string literal: `'...'` with quotes doubled.
fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
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
        assert!(script.contains(&format!("r.pages >= {TRUNCATE_PAGES_PER_TABLE}")));
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
    fn dollar_quotes_pick_a_tag_the_text_does_not_contain() {
        assert_eq!(dollar_quote("q", "a"), "$q$a$q$");
        assert_eq!(dollar_quote("q", "x $q$ y"), "$qx$x $q$ y$qx$");
        let objects = OBJECTS.replace("{{SELECTION}}", "");
        assert!(!objects.contains("$objects$"));
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(sql_literal("it's"), "'it''s'");
    }
}
