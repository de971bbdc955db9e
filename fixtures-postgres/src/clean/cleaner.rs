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
  OUT note text, OUT restored text[], OUT replace text)
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
  v_plain boolean;
  v_rows bigint := 0;
  v_count bigint;
  v_rel oid;
  v_role text;
  v_messages text;
  v_pages bigint;
  v_sql text;
  i integer;
  b _fixtures.baseline;
  v_restore oid[] := '{}';
  v_span integer;
  v_mv record;
  v_moved_seqs oid[];
  v_rewritten oid[];
  v_as_replica boolean;
BEGIN
  considered := 0;
  deleted := '{}';
  truncated := '{}';
  sequences := '{}';
  restored := '{}';
  PERFORM pg_catalog.set_config('fixtures.cleaning', 'on', true);
  SELECT t.replica, t.watch INTO v_replica, v_watch FROM _fixtures.settings t;
  v_replica := coalesce(v_replica, false);
  v_watch := coalesce(v_watch, false);
  -- A framework connection that stays a replica (the shared databases' own) never switches
  -- the role, so its cached plans are kept: every clean runs as a replica.
  v_as_replica := v_replica
    AND pg_catalog.current_setting('session_replication_role') = 'replica';

  -- What the next test must start from can only be restored while the schema is the
  -- snapshot's: after DDL the database is replaced (by the caller) instead.
  SELECT * INTO b FROM _fixtures.baseline;
  IF NOT FOUND THEN
    replace := 'the framework''s snapshot of the database is missing';
    RETURN;
  END IF;
  IF v_watch THEN
    SELECT e.last_value + e.is_called::integer INTO v_epoch FROM _fixtures.epoch e;
    IF v_epoch <> b.epoch THEN
      replace := 'a test changed the schema (DDL)';
      RETURN;
    END IF;
  ELSIF _fixtures.fingerprint() IS DISTINCT FROM b.fingerprint THEN
    replace := 'the schema differs from the template''s (a test ran DDL)';
    RETURN;
  END IF;
  FOR v_mv IN SELECT m.name FROM _fixtures.mviews m JOIN _fixtures.dirty d ON d.relid = m.relid
    WHERE NOT m.fresh
  LOOP
    replace := pg_catalog.format('materialized view %s was refreshed, and what the template '
      'holds in it is not its query''s result', v_mv.name);
    RETURN;
  END LOOP;
  -- The schema is the snapshot's: what was listed for it holds.
  v_epoch := b.epoch;
  SELECT * INTO s FROM _fixtures.scope c
    WHERE c.only_ = p_only AND c.except_ = p_except AND c.epoch = v_epoch;
  v_found := FOUND;
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
  IF NOT v_found OR s.untracked IS DISTINCT FROM v_new THEN
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
  -- Tables whose file was replaced (VACUUM FULL, CLUSTER, TRUNCATE) hold their old rows at new
  -- ctids: emptied and filled from their copies.
  SELECT coalesce(array_agg(p.relid), '{}') INTO v_rewritten FROM _fixtures.pristine p
    WHERE pg_catalog.pg_relation_filenode(p.relid) IS DISTINCT FROM p.filenode;
  v_candidates := v_candidates || v_rewritten;

  -- The tables with rows of their own, in scope; big ones are truncated.
  FOREACH v_rel IN ARRAY v_candidates LOOP
    i := pg_catalog.array_position(v_rels, v_rel);
    CONTINUE WHEN i IS NULL OR v_kinds[i] <> 'r' OR v_rel = ANY (v_trunc) OR i = ANY (v_del);
    IF p_mode = 'auto' AND NOT EXISTS (SELECT FROM _fixtures.pristine p WHERE p.relid = v_rel)
    THEN
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

  -- The tables whose template rows come back: those with a snapshot copy among the deleted
  -- ones (their own rows are deleted) and the truncated ones (TRUNCATE ... CASCADE reaches
  -- further; that list is completed below).
  SELECT coalesce(array_agg(p.relid), '{}') INTO v_restore FROM _fixtures.pristine p
    WHERE p.relid = ANY (v_trunc) OR p.relid IN (SELECT v_rels[j] FROM unnest(v_del) j);

  -- How to delete the rest.
  -- Template rows come back under replica where it may be set: no foreign-key action of a
  -- deleted row version reaches another table's template rows, no trigger fires.
  v_plain := p_mode = 'auto' AND NOT v_as_replica
    AND NOT (v_replica AND pg_catalog.cardinality(v_restore) > 0);
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
  SELECT coalesce(array_agg(p.relid), '{}') INTO v_restore FROM _fixtures.pristine p
    WHERE p.relid = ANY (v_trunc) OR p.relid = ANY (v_restore);
  -- Putting template rows back must not fire a user's INSERT trigger or rule (an audit row
  -- would be written): under replica only ALWAYS / REPLICA ones fire. Without replica, a
  -- row version deleted from a referenced table would run the foreign keys' actions on the
  -- referencing tables' template rows.
  FOR i IN SELECT pg_catalog.array_position(v_rels, r) FROM unnest(v_restore) r LOOP
    CONTINUE WHEN i IS NULL;
    IF v_replica AND NOT v_plain THEN
      CONTINUE WHEN NOT s.rihooks[i];
    ELSE
      CONTINUE WHEN NOT s.oihooks[i] AND NOT (s.referenced[i] AND v_names[i] = ANY (deleted));
    END IF;
    replace := pg_catalog.format('putting the template''s rows back into %s needs what this '
      'role may not do (a trigger or rule would fire, or a foreign key act, without '
      'session_replication_role = replica)', v_names[i]);
    RETURN;
  END LOOP;
  -- A row newer than the snapshot's transaction is a test's.
  v_span := pg_catalog.age(pg_catalog.xid(b.boundary));

  IF v_replica AND NOT v_plain
      AND pg_catalog.cardinality(v_trunc) + pg_catalog.cardinality(deleted) > 0 THEN
    v_role := pg_catalog.current_setting('session_replication_role');
    PERFORM pg_catalog.set_config('session_replication_role', 'replica', true);
  END IF;
  -- All or nothing: a restore that fails (e.g. a CHECK constraint added NOT VALID since
  -- rejects a template row) changes nothing and asks for a replacement.
  BEGIN
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
  IF pg_catalog.cardinality(deleted) > 0 THEN
    SELECT 'WITH ' || string_agg(pg_catalog.format('d%s AS (DELETE FROM ONLY %s%s)', n, t,
        CASE WHEN EXISTS (SELECT FROM _fixtures.pristine p
                          WHERE p.relid = t::regclass AND p.relid = ANY (v_restore)
                            AND p.relid <> ALL (v_rewritten))
          THEN ' WHERE pg_catalog.age(xmin) < ' || v_span ELSE '' END), ', ') || ' SELECT'
      INTO v_sql FROM unnest(deleted) WITH ORDINALITY AS u (t, n);
    EXECUTE v_sql;
  END IF;
  -- The template's rows that are missing come back from the copies, in one statement (the
  -- foreign keys, when checked, are checked at its end).
  IF pg_catalog.cardinality(v_restore) > 0 THEN
    SELECT 'WITH ' || string_agg(pg_catalog.format(
        'r%s AS (INSERT INTO %s%s OVERRIDING SYSTEM VALUE SELECT %s FROM %s p '
        'WHERE p."_fixtures ctid" NOT IN (SELECT ctid FROM ONLY %s))',
        n, x.name, CASE WHEN p.cols = '' THEN '' ELSE ' (' || p.cols || ')' END,
        CASE WHEN p.cols = '' THEN '' ELSE p.cols END, p.copy, x.name), ', ') || ' SELECT',
        array_agg(x.name ORDER BY x.name)
      INTO v_sql, restored
      FROM unnest(v_restore) WITH ORDINALITY AS u (rel, n)
        JOIN _fixtures.pristine p ON p.relid = u.rel
        CROSS JOIN LATERAL (SELECT pg_catalog.format('%I.%I', ns.nspname, c.relname) AS name
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
          WHERE c.oid = u.rel) x;
    EXECUTE v_sql;
  END IF;
  EXCEPTION WHEN OTHERS THEN
    replace := 'restoring in place failed: ' || SQLERRM;
    deleted := '{}';
    truncated := '{}';
    restored := '{}';
    RETURN;
  END;
  IF v_role IS NOT NULL THEN
    PERFORM pg_catalog.set_config('session_replication_role', v_role, true);
  END IF;

  -- Every sequence that moved (owned or not) back to its snapshot state.
  v_moved_seqs := _fixtures.seqs_moved();
  IF pg_catalog.cardinality(v_moved_seqs) > 0 THEN
    SELECT coalesce(array_agg(q.name ORDER BY q.name), '{}'),
        count(pg_catalog.setval(q.seq, q.last_value, q.is_called))
      INTO sequences, v_count
      FROM _fixtures.seqstate q WHERE q.seq = ANY (v_moved_seqs);
  END IF;

  -- Refreshed materialized views back to their contents (fresh ones only: checked above).
  PERFORM pg_catalog.set_config('fixtures.quiet', 'on', true);
  FOR v_mv IN SELECT m.name, m.populated FROM _fixtures.mviews m
    JOIN _fixtures.dirty d ON d.relid = m.relid
  LOOP
    EXECUTE 'REFRESH MATERIALIZED VIEW ' || v_mv.name
      || CASE WHEN v_mv.populated THEN '' ELSE ' WITH NO DATA' END;
    restored := restored || v_mv.name;
  END LOOP;
  PERFORM pg_catalog.set_config('fixtures.quiet', 'off', true);

  DELETE FROM _fixtures.dirty;
  UPDATE _fixtures.pristine p SET filenode = pg_catalog.pg_relation_filenode(p.relid)
    WHERE p.filenode IS DISTINCT FROM pg_catalog.pg_relation_filenode(p.relid);
END
$fn$;
"#;
