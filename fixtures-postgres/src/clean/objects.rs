//! The SQL of the objects `prepare` installs in `_fixtures` (see `install.rs` for the story).
//! Placeholders: `{{SELECTION}}` (the catalog listing over `p_only` / `p_except`),
//! `{{TRIGGER}}`, `{{MARKER}}`, `{{PAGES}}`, `{{ROWS}}`, `{{SETTINGS}}` (the `SET` clauses of
//! the functions that query the catalog).

/// The schema, its tables, the tracking trigger function and the DDL watch.
pub(super) const SCHEMA: &str = r#"
DROP SCHEMA IF EXISTS _fixtures CASCADE;
CREATE SCHEMA _fixtures;
COMMENT ON SCHEMA _fixtures IS {{MARKER}};
GRANT USAGE ON SCHEMA _fixtures TO PUBLIC;

-- replica: this role may set session_replication_role; watch: the DDL event trigger exists.
CREATE TABLE _fixtures.settings (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  replica boolean NOT NULL,
  watch boolean NOT NULL
);

-- The tables written since the last clean (and the materialized views refreshed).
CREATE UNLOGGED TABLE _fixtures.dirty (relid oid PRIMARY KEY);
GRANT SELECT, INSERT ON _fixtures.dirty TO PUBLIC;

-- What every clean restores (see restore.rs): taken by snapshot() at prepare.
-- boundary: the transaction of the snapshot (rows of later ones are a test's); epoch: the DDL
-- count then; fingerprint: the catalog's then (compared when DDL is not watched).
CREATE TABLE _fixtures.baseline (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  boundary xid8 NOT NULL,
  epoch bigint NOT NULL,
  fingerprint text NOT NULL
);
-- The tables that held rows: a copy of them (copy), the columns restored (cols, quoted).
-- filenode: the table's file after the last clean (a new one: its rows moved).
CREATE TABLE _fixtures.pristine (
  relid oid PRIMARY KEY, copy text NOT NULL, cols text NOT NULL, filenode oid
);
-- Every sequence's state (owned or not).
CREATE TABLE _fixtures.seqstate (
  seq oid PRIMARY KEY, name text NOT NULL, last_value bigint NOT NULL, is_called boolean NOT NULL
);
-- Every materialized view: populated, and whether its contents were its query's result
-- (fresh: a REFRESH restores them).
CREATE TABLE _fixtures.mviews (
  relid oid PRIMARY KEY, name text NOT NULL, populated boolean NOT NULL, fresh boolean NOT NULL
);

-- Moves at every DDL command (event trigger _fixtures_ddl).
CREATE SEQUENCE _fixtures.epoch;

-- What scope_of found for (only_, except_), valid while the epoch has not moved. Parallel
-- arrays, one entry per table in scope: rhooks = a DELETE would fire something under
-- session_replication_role = replica (or row security); ohooks = the same without it;
-- referenced = a foreign key points at the table. parents: the tables that have partitions
-- or children. seqs: the owned sequences.
CREATE UNLOGGED TABLE _fixtures.scope (
  only_ text[] NOT NULL,
  except_ text[] NOT NULL,
  epoch bigint NOT NULL,
  rels oid[] NOT NULL,
  names text[] NOT NULL,
  kinds "char"[] NOT NULL,
  toasts oid[] NOT NULL,
  rhooks boolean[] NOT NULL,
  ohooks boolean[] NOT NULL,
  referenced boolean[] NOT NULL,
  untracked oid[] NOT NULL,
  parents oid[] NOT NULL,
  seqs oid[] NOT NULL,
  seqnames text[] NOT NULL,
  seqstarts bigint[] NOT NULL,
  rihooks boolean[] NOT NULL,
  oihooks boolean[] NOT NULL,
  PRIMARY KEY (only_, except_)
);

CREATE FUNCTION _fixtures.track() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  -- The clean's own writes restore: nothing to record.
  IF pg_catalog.current_setting('fixtures.cleaning', true) = 'on' THEN
    RETURN NULL;
  END IF;
  IF NOT EXISTS (SELECT FROM _fixtures.dirty WHERE relid = TG_RELID) THEN
    INSERT INTO _fixtures.dirty (relid) VALUES (TG_RELID) ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END
$fn$;

-- A REFRESH MATERIALIZED VIEW marks the view written; any other DDL moves the epoch, but
-- for temporary objects (a session's own, gone with it: DISCARD TEMP at every turn). Drops
-- are seen by the sql_drop trigger, which names what was dropped.
CREATE FUNCTION _fixtures.ddl() RETURNS event_trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog AS $fn$
BEGIN
  IF pg_catalog.current_setting('fixtures.quiet', true) IS NOT DISTINCT FROM 'on' THEN
    RETURN;
  END IF;
  IF TG_EVENT = 'sql_drop' THEN
    IF EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() d
               WHERE NOT d.is_temporary) THEN
      PERFORM pg_catalog.nextval('_fixtures.epoch');
    END IF;
  ELSIF TG_TAG = 'REFRESH MATERIALIZED VIEW' THEN
    INSERT INTO _fixtures.dirty (relid)
      SELECT c.objid FROM pg_catalog.pg_event_trigger_ddl_commands() c
      WHERE c.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
      ON CONFLICT DO NOTHING;
  ELSIF TG_TAG LIKE 'DROP %' THEN
    NULL;
  ELSIF EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() c
                WHERE c.schema_name IS NULL OR c.schema_name !~ '^pg_temp')
      -- A command that collected nothing counts, but for the internal ones of a concurrent
      -- refresh (its temporary diff table).
      OR (NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands())
          AND pg_catalog.current_query() !~* 'refresh\s+materialized\s+view\s+concurrently')
  THEN
    PERFORM pg_catalog.nextval('_fixtures.epoch');
  END IF;
END
$fn$;

-- The framework's own tables refuse writes outside a clean or a snapshot (a test cannot
-- break what the next one starts from by truncating them).
CREATE FUNCTION _fixtures.guard() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF pg_catalog.current_setting('fixtures.cleaning', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'fixtures-postgres: % of %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING HINT = 'the _fixtures schema is the test framework''s own: it restores the '
        'database between tests; write only to your own tables';
  END IF;
  RETURN NULL;
END
$fn$;

"#;

/// `scope_of(only, except)`: the tables a clean covers, read from the catalog.
pub(super) const SCOPE_OF: &str = r#"
-- The selected tables, their partitions and children, and (recursively) the tables whose
-- foreign keys reference them: what TRUNCATE <selected> CASCADE empties. With the owned
-- sequences (serial, identity) that TRUNCATE ... RESTART IDENTITY restarts.
CREATE FUNCTION _fixtures.scope_of(p_only text[], p_except text[]) RETURNS _fixtures.scope
LANGUAGE plpgsql {{SETTINGS}} AS $fn$
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
  -- The tables foreign keys point at.
  referenced (oid) AS (
    SELECT k.confrelid FROM pg_catalog.pg_constraint k WHERE k.contype = 'f'
  ),
  -- ON DELETE CASCADE / SET NULL / SET DEFAULT run a DELETE or UPDATE on the referencing
  -- table (on no rows: they are deleted too): its statement triggers and rules fire.
  fk_hooks (oid) AS (
    SELECT k.confrelid FROM pg_catalog.pg_constraint k
      JOIN pg_catalog.pg_trigger t ON t.tgrelid = k.conrelid
    WHERE k.contype = 'f' AND NOT t.tgisinternal AND t.tgname <> '{{TRIGGER}}'
      AND t.tgenabled IN ('O', 'A')
      AND ((k.confdeltype = 'c' AND t.tgtype & 8 <> 0)
        OR (k.confdeltype IN ('n', 'd') AND t.tgtype & 16 <> 0))
    UNION
    SELECT k.confrelid FROM pg_catalog.pg_constraint k
      JOIN pg_catalog.pg_rewrite w ON w.ev_class = k.conrelid
    WHERE k.contype = 'f' AND k.confdeltype IN ('c', 'n', 'd')
      AND w.ev_type IN ('2', '4') AND w.ev_enabled IN ('O', 'A')
  ),
  -- Per table: a DELETE trigger that fires under replica (rt) or not (ot), the tracking
  -- trigger enabled ALWAYS (tracked).
  trig (oid, rt, ot, tracked) AS (
    SELECT t.tgrelid,
      bool_or(t.tgname <> '{{TRIGGER}}' AND t.tgenabled IN ('A', 'R') AND t.tgtype & 8 <> 0),
      bool_or(NOT t.tgisinternal AND t.tgname <> '{{TRIGGER}}' AND t.tgenabled IN ('O', 'A')
        AND t.tgtype & 8 <> 0),
      bool_or(t.tgname = '{{TRIGGER}}' AND t.tgenabled = 'A')
    FROM pg_catalog.pg_trigger t GROUP BY t.tgrelid
  ),
  -- Per table: an INSERT trigger or rule that fires under replica (ri) or not (oi): the
  -- restore of seed rows would fire it.
  ins (oid, ri, oi) AS (
    SELECT t.tgrelid, bool_or(t.tgenabled IN ('A', 'R')), bool_or(t.tgenabled IN ('O', 'A'))
    FROM pg_catalog.pg_trigger t
    WHERE NOT t.tgisinternal AND t.tgname <> '{{TRIGGER}}' AND t.tgtype & 4 <> 0
    GROUP BY t.tgrelid
    UNION ALL
    SELECT w.ev_class, bool_or(w.ev_enabled IN ('A', 'R')), bool_or(w.ev_enabled IN ('O', 'A'))
    FROM pg_catalog.pg_rewrite w WHERE w.ev_type = '3' GROUP BY w.ev_class
  ),
  -- Per table: a DELETE rule that fires under replica (rr) or not (orr).
  rules (oid, rr, orr) AS (
    SELECT w.ev_class, bool_or(w.ev_enabled IN ('A', 'R')), bool_or(w.ev_enabled IN ('O', 'A'))
    FROM pg_catalog.pg_rewrite w WHERE w.ev_type = '4' GROUP BY w.ev_class
  ),
  info AS (
    SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, c.relkind,
      c.reltoastrelid AS toast,
      c.relrowsecurity OR coalesce(t.rt, false) OR coalesce(r.rr, false) AS rhooks,
      c.relrowsecurity OR coalesce(t.ot, false) OR coalesce(r.orr, false)
        OR c.oid IN (SELECT oid FROM fk_hooks) AS ohooks,
      c.oid IN (SELECT oid FROM referenced) AS referenced,
      NOT coalesce(t.tracked, false) AS untracked,
      coalesce((SELECT bool_or(i.ri) FROM ins i WHERE i.oid = c.oid), false) AS rihooks,
      c.relrowsecurity OR coalesce((SELECT bool_or(i.oi) FROM ins i WHERE i.oid = c.oid), false)
        AS oihooks
    FROM closure x JOIN pg_catalog.pg_class c ON c.oid = x.oid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN trig t ON t.oid = c.oid
      LEFT JOIN rules r ON r.oid = c.oid
  )
  SELECT coalesce(array_agg(oid ORDER BY oid), '{}'),
    coalesce(array_agg(name ORDER BY oid), '{}'),
    coalesce(array_agg(relkind ORDER BY oid), '{}'),
    coalesce(array_agg(toast ORDER BY oid), '{}'),
    coalesce(array_agg(rhooks ORDER BY oid), '{}'),
    coalesce(array_agg(ohooks ORDER BY oid), '{}'),
    coalesce(array_agg(referenced ORDER BY oid), '{}'),
    coalesce(array_agg(oid ORDER BY oid) FILTER (WHERE untracked), '{}'),
    coalesce(array_agg(rihooks ORDER BY oid), '{}'),
    coalesce(array_agg(oihooks ORDER BY oid), '{}')
  INTO s.rels, s.names, s.kinds, s.toasts, s.rhooks, s.ohooks, s.referenced, s.untracked,
    s.rihooks, s.oihooks
  FROM info;

  SELECT coalesce(array_agg(DISTINCT i.inhparent), '{}') INTO s.parents
    FROM pg_catalog.pg_inherits i WHERE i.inhparent = ANY (s.rels);

  SELECT coalesce(array_agg(q.seqrelid ORDER BY q.seqrelid), '{}'),
    coalesce(array_agg(q.name ORDER BY q.seqrelid), '{}'),
    coalesce(array_agg(q.seqstart ORDER BY q.seqrelid), '{}')
  INTO s.seqs, s.seqnames, s.seqstarts
  FROM (
    SELECT DISTINCT q.seqrelid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name,
      q.seqstart
    FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_sequence q ON q.seqrelid = d.objid
      JOIN pg_catalog.pg_class c ON c.oid = q.seqrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
      AND d.refobjid = ANY (s.rels)
      AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')
  ) q;
  RETURN s;
END
$fn$;
"#;

/// `watch(rels)` installs the tracking triggers; `arm(track)` runs at every `prepare`.
pub(super) const WATCH_AND_ARM: &str = r#"
-- Installs (or re-enables) the tracking trigger on the given tables; returns those it could
-- not (no privilege): they are treated as written at every clean.
CREATE FUNCTION _fixtures.watch(p_rels oid[]) RETURNS oid[] LANGUAGE plpgsql {{SETTINGS}} AS $fn$
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
        EXECUTE 'CREATE TRIGGER {{TRIGGER}} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON '
          || v_name
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

-- Records what this role may do, installs the DDL watch if it may, with p_track puts the
-- tracking trigger on every user table, and takes the snapshot every clean restores: what
-- the tables hold now (a template's migration and seed rows) is the state each test starts
-- from.
CREATE FUNCTION _fixtures.arm(p_track boolean) RETURNS void LANGUAGE plpgsql {{SETTINGS}} AS $fn$
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
  SELECT evtenabled = 'A' INTO v_watch
    FROM pg_catalog.pg_event_trigger WHERE evtname = '_fixtures_ddl';
  IF NOT FOUND THEN
    BEGIN
      CREATE EVENT TRIGGER _fixtures_ddl ON ddl_command_end EXECUTE FUNCTION _fixtures.ddl();
      ALTER EVENT TRIGGER _fixtures_ddl ENABLE ALWAYS;
      CREATE EVENT TRIGGER _fixtures_drop ON sql_drop EXECUTE FUNCTION _fixtures.ddl();
      ALTER EVENT TRIGGER _fixtures_drop ENABLE ALWAYS;
      v_watch := true;
    EXCEPTION WHEN insufficient_privilege THEN
      v_watch := false;
    END;
  END IF;
  PERFORM pg_catalog.set_config('fixtures.cleaning', 'on', true);
  INSERT INTO _fixtures.settings (replica, watch) VALUES (v_replica, v_watch)
    ON CONFLICT (id) DO UPDATE SET replica = excluded.replica, watch = excluded.watch;
  DELETE FROM _fixtures.scope;
  IF p_track THEN
    WITH RECURSIVE {{SELECTION}}
    SELECT coalesce(array_agg(oid), '{}') INTO v_all FROM sel;
    PERFORM _fixtures.watch(v_all);
  END IF;
  PERFORM _fixtures.snapshot();
END
$fn$;
"#;
