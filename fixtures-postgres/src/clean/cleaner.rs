//! The SQL of `_fixtures.clean`, the function one clean calls (see `clean.rs` for the story
//! and `objects.rs` for the objects it uses). Placeholders as in `objects.rs`.

/// `clean(mode, only, except)`: one clean.
pub(super) const CLEAN: &str = r#"
-- Empties the tables of scope_of(p_only, p_except) that were written since the last clean
-- ('auto'; tables without a tracking trigger count as written) or all of them ('delete'),
-- and restarts their owned sequences that moved: the end state of
-- TRUNCATE <selected> RESTART IDENTITY CASCADE.
--
-- How, per written table: TRUNCATE (with what it cascades to) when it holds {{PAGES}} or more
-- pages per table truncated; else DELETE, all tables in one statement. That statement runs
-- with the foreign keys checked when nothing is in the way (no DELETE trigger or rule, at most
-- {{ROWS}} rows in referenced tables — each costs a check); else under
-- session_replication_role = replica (which discards the session's cached plans: every
-- statement here is cheap to plan again); else, without the right to set it, tables with
-- DELETE triggers or rules are truncated.
CREATE FUNCTION _fixtures.clean(p_mode text, p_only text[], p_except text[],
  OUT considered integer, OUT deleted text[], OUT truncated text[], OUT sequences text[],
  OUT note text)
LANGUAGE plpgsql {{SETTINGS}} AS $fn$
DECLARE
  v_replica boolean;
  v_watch boolean;
  v_epoch bigint;
  v_found boolean := false;
  s _fixtures.scope;
  v_rels oid[];
  v_names text[];
  v_kinds "char"[];
  v_toasts oid[];
  v_hooks boolean[];
  v_seqs oid[];
  v_candidates oid[];
  v_new oid[];
  v_trunc oid[] := '{}';
  v_del integer[] := '{}';
  v_cascade oid[];
  v_moved integer[];
  v_plain boolean;
  v_rows bigint := 0;
  v_count bigint;
  v_rel oid;
  v_role text;
  v_messages text;
  v_pages bigint;
  v_sql text;
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
    v_found := FOUND;
  END IF;
  IF NOT v_found THEN
    s := _fixtures.scope_of(p_only, p_except);
    s.epoch := coalesce(v_epoch, 0);
    DELETE FROM _fixtures.dirty d
      WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = d.relid);
  END IF;
  -- Tables without a working tracking trigger (created after prepare, or whose trigger was
  -- disabled) count as written; track them from now on.
  v_new := s.untracked;
  IF p_mode = 'auto' AND pg_catalog.cardinality(v_new) > 0 THEN
    s.untracked := _fixtures.watch(v_new);
  END IF;
  IF v_watch AND (NOT v_found OR s.untracked IS DISTINCT FROM v_new) THEN
    DELETE FROM _fixtures.scope c WHERE c.only_ = p_only AND c.except_ = p_except;
    INSERT INTO _fixtures.scope VALUES (s.*);
  END IF;
  -- Plain array variables: indexing them does not detoast the record's arrays again.
  v_rels := s.rels;
  v_names := s.names;
  v_kinds := s.kinds;
  v_toasts := s.toasts;
  v_seqs := s.seqs;
  considered := pg_catalog.cardinality(v_rels);

  IF p_mode = 'delete' THEN
    v_candidates := v_rels;
  ELSE
    SELECT coalesce(array_agg(d.relid), '{}') INTO v_candidates FROM _fixtures.dirty d;
    -- A written partitioned table or parent: its partitions and children may hold the rows.
    IF v_candidates && s.parents THEN
      WITH RECURSIVE d (oid) AS (
        SELECT pg_catalog.unnest(v_candidates)
        UNION
        SELECT i.inhrelid FROM d JOIN pg_catalog.pg_inherits i ON i.inhparent = d.oid
      )
      SELECT array_agg(d.oid) INTO v_candidates FROM d;
    END IF;
    v_candidates := v_candidates || v_new;
  END IF;

  -- The tables with rows of their own, in scope; big ones are truncated.
  FOREACH v_rel IN ARRAY v_candidates LOOP
    i := pg_catalog.array_position(v_rels, v_rel);
    CONTINUE WHEN i IS NULL OR v_kinds[i] <> 'r' OR v_rel = ANY (v_trunc) OR i = ANY (v_del);
    IF p_mode = 'auto' THEN
      v_pages := (pg_catalog.pg_relation_size(v_rel)
        + coalesce(pg_catalog.pg_relation_size(NULLIF(v_toasts[i], 0::oid)), 0)) / 8192;
      IF v_pages >= {{PAGES}} THEN
        WITH RECURSIVE c (oid) AS (
          SELECT v_rel
          UNION
          SELECT k.conrelid FROM c
            JOIN pg_catalog.pg_constraint k ON k.confrelid = c.oid AND k.contype = 'f'
        )
        SELECT coalesce(array_agg(c.oid), '{}') INTO v_cascade
          FROM c JOIN pg_catalog.pg_class x ON x.oid = c.oid
          WHERE x.relkind = 'r' AND c.oid <> ALL (v_trunc);
        IF v_pages >= {{PAGES}} * pg_catalog.cardinality(v_cascade) THEN
          v_trunc := v_trunc || v_cascade;
          CONTINUE;
        END IF;
      END IF;
    END IF;
    v_del := v_del || i;
  END LOOP;

  -- How to delete the rest.
  v_plain := p_mode = 'auto';
  IF v_plain THEN
    v_hooks := s.ohooks;
    FOREACH i IN ARRAY v_del LOOP
      CONTINUE WHEN v_rels[i] = ANY (v_trunc);
      IF v_hooks[i] THEN
        v_plain := false;
      ELSIF s.referenced[i] THEN
        EXECUTE 'SELECT count(*) FROM (SELECT FROM ONLY ' || v_names[i]
          || ' LIMIT {{ROWS}} + 1) x' INTO v_count;
        v_rows := v_rows + v_count;
        v_plain := v_rows <= {{ROWS}};
      END IF;
      EXIT WHEN NOT v_plain;
    END LOOP;
  END IF;
  IF NOT v_plain THEN
    IF v_replica THEN
      v_hooks := s.rhooks;
    ELSIF p_mode = 'auto' THEN
      v_hooks := s.ohooks;
      v_plain := true;
    ELSE
      v_hooks := pg_catalog.array_fill(true, ARRAY[considered]);
    END IF;
    FOREACH i IN ARRAY v_del LOOP
      IF v_hooks[i] AND v_rels[i] <> ALL (v_trunc) THEN
        v_trunc := v_trunc || v_rels[i];
        IF NOT v_replica THEN
          note := 'this role may not set session_replication_role: tables with DELETE '
            'triggers or rules (or all, for Delete) were truncated';
        END IF;
      END IF;
    END LOOP;
  END IF;

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
  FOREACH i IN ARRAY v_del LOOP
    CONTINUE WHEN v_rels[i] = ANY (v_trunc);
    deleted := deleted || v_names[i];
  END LOOP;

  IF v_replica AND NOT v_plain
      AND pg_catalog.cardinality(v_trunc) + pg_catalog.cardinality(deleted) > 0 THEN
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
  END IF;
  -- One statement: the foreign keys (when checked) are checked at its end, when every
  -- written table is empty, so the order does not matter and cycles are no problem.
  IF pg_catalog.cardinality(deleted) = 1 THEN
    EXECUTE 'DELETE FROM ONLY ' || deleted[1];
  ELSIF pg_catalog.cardinality(deleted) > 1 THEN
    SELECT 'WITH ' || string_agg(pg_catalog.format('d%s AS (DELETE FROM ONLY %s)', n, t), ', ')
        || ' SELECT'
      INTO v_sql FROM unnest(deleted) WITH ORDINALITY AS u (t, n);
    EXECUTE v_sql;
  END IF;
  IF v_role IS NOT NULL THEN
    PERFORM pg_catalog.set_config('session_replication_role', v_role, true);
  END IF;

  SELECT array_agg(u.i) INTO v_moved
    FROM unnest(v_seqs) WITH ORDINALITY AS u (seq, i)
    WHERE pg_catalog.pg_sequence_last_value(u.seq) IS NOT NULL;
  IF v_moved IS NOT NULL THEN
    FOREACH i IN ARRAY v_moved LOOP
      PERFORM pg_catalog.setval(v_seqs[i], s.seqstarts[i], false);
      sequences := sequences || s.seqnames[i];
    END LOOP;
  END IF;

  IF pg_catalog.cardinality(v_candidates) > 0 THEN
    DELETE FROM _fixtures.dirty WHERE relid = ANY (v_rels);
  END IF;
END
$fn$;
"#;
