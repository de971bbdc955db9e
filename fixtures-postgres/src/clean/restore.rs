//! The SQL of the snapshot every clean restores (see `clean.rs` for the story): what the
//! tables, sequences and materialized views held when `prepare` ran, and a fingerprint of the
//! catalog. Placeholders as in `objects.rs`.
//!
//! - A table that holds rows is copied into `_fixtures.p_<oid>`, with each row's `ctid`. The
//!   rows a test writes carry a transaction id after the snapshot's (`boundary`): a clean
//!   deletes those, then puts back the copied rows whose `ctid` no longer holds an old row
//!   (deleted or updated by a test, or the table truncated). A test that wrote nothing there
//!   costs nothing; one that wrote a few rows costs a few rows. A table whose file was
//!   replaced since the last clean (`VACUUM FULL`, `CLUSTER`, `TRUNCATE`: old rows at new
//!   `ctid`s) is emptied and filled from its copy.
//! - Every sequence's `last_value` and `is_called`; `seqs_moved()` (generated, static SQL, so
//!   its plan is kept) names the ones that differ now.
//! - Every materialized view: populated or not, and whether it held its query's result then
//!   (a `REFRESH` then restores it; one that did not is restored by a fresh clone).
//! - `fingerprint()`: a digest of the user objects in the catalog, compared at every clean
//!   when no event trigger watches DDL (a role that is not a superuser).

/// `snapshot()` and `fingerprint()`.
pub(super) const SNAPSHOT: &str = r#"
-- A digest of every user object in the catalog that DDL can create, change or drop (not of
-- data; of a materialized view its file, which a REFRESH replaces).
CREATE FUNCTION _fixtures.fingerprint() RETURNS text LANGUAGE plpgsql STABLE
{{SETTINGS}} SET search_path = pg_catalog AS $fn$
DECLARE
  v_catalog text;
  v_views text := '';
  v_hash text;
  r record;
BEGIN
  -- The contents of the materialized views too: without an event trigger nothing else sees
  -- a REFRESH … CONCURRENTLY (it keeps the view's file).
  FOR r IN SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'm' AND c.relispopulated AND n.nspname !~ '^pg_'
      AND n.nspname <> 'information_schema' ORDER BY c.oid
  LOOP
    EXECUTE 'SELECT md5(coalesce(string_agg(x::text, '','' ORDER BY x::text), '''')) FROM '
      || r.name || ' x' INTO v_hash;
    v_views := v_views || v_hash;
  END LOOP;
  v_catalog := (WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'
  ),
  cls AS (
    SELECT c.* FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.relpersistence <> 't'
  )
  SELECT md5(concat_ws('|',
    (SELECT string_agg(oid::text || nspname || coalesce(nspacl::text, ''), ',' ORDER BY oid)
       FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM ns)),
    (SELECT string_agg(concat_ws(':', oid, relname, relnamespace, relkind, relnatts,
        relrowsecurity, relforcerowsecurity, relacl, reloptions, relpersistence, relispartition,
        md5(relpartbound::text), relowner,
        CASE WHEN relkind = 'm' THEN relfilenode::text || relispopulated::text END),
        ',' ORDER BY oid) FROM cls),
    (SELECT string_agg(concat_ws(':', i.inhrelid, i.inhparent, i.inhseqno), ','
        ORDER BY i.inhrelid, i.inhparent) FROM pg_inherits i JOIN cls ON cls.oid = i.inhrelid),
    (SELECT string_agg(concat_ws(':', a.attrelid, a.attnum, a.attname, a.atttypid,
        a.atttypmod, a.attnotnull, a.attisdropped, a.attidentity, a.attgenerated,
        a.atthasdef, a.attcollation, a.attacl), ',' ORDER BY a.attrelid, a.attnum)
       FROM pg_attribute a JOIN cls ON cls.oid = a.attrelid WHERE a.attnum > 0),
    (SELECT string_agg(concat_ws(':', d.oid, md5(d.adbin::text)), ',' ORDER BY d.oid)
       FROM pg_attrdef d JOIN cls ON cls.oid = d.adrelid),
    (SELECT string_agg(concat_ws(':', k.oid, k.conname, k.convalidated, k.condeferrable,
        k.condeferred), ',' ORDER BY k.oid)
       FROM pg_constraint k JOIN ns ON ns.oid = k.connamespace),
    (SELECT string_agg(concat_ws(':', t.oid, t.tgname, t.tgenabled, t.tgtype, t.tgfoid,
        t.tgattr, md5(t.tgqual::text), md5(t.tgargs::text)), ',' ORDER BY t.oid)
       FROM pg_trigger t JOIN cls ON cls.oid = t.tgrelid),
    (SELECT string_agg(concat_ws(':', w.oid, w.ev_enabled, w.ev_type, w.is_instead,
        md5(w.ev_action::text), md5(w.ev_qual::text)), ',' ORDER BY w.oid)
       FROM pg_rewrite w JOIN cls ON cls.oid = w.ev_class),
    (SELECT string_agg(concat_ws(':', i.indexrelid, i.indisvalid), ',' ORDER BY i.indexrelid)
       FROM pg_index i JOIN cls ON cls.oid = i.indrelid),
    (SELECT string_agg(concat_ws(':', p.oid, p.proname, md5(p.prosrc), p.proconfig,
        p.prosecdef, p.provolatile, p.proisstrict, p.proleakproof, p.proacl, p.prorettype,
        p.proargtypes), ',' ORDER BY p.oid) FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace),
    (SELECT string_agg(concat_ws(':', y.oid, y.typname), ',' ORDER BY y.oid)
       FROM pg_type y JOIN ns ON ns.oid = y.typnamespace),
    (SELECT string_agg(concat_ws(':', e.oid, e.enumlabel, e.enumsortorder), ',' ORDER BY e.oid)
       FROM pg_enum e JOIN pg_type y ON y.oid = e.enumtypid JOIN ns ON ns.oid = y.typnamespace),
    (SELECT string_agg(concat_ws(':', q.seqrelid, q.seqstart, q.seqincrement, q.seqmax,
        q.seqmin, q.seqcache, q.seqcycle), ',' ORDER BY q.seqrelid)
       FROM pg_sequence q JOIN cls ON cls.oid = q.seqrelid),
    (SELECT string_agg(concat_ws(':', p.oid, p.polname, p.polcmd, p.polpermissive,
        p.polroles, md5(p.polqual::text), md5(p.polwithcheck::text)), ',' ORDER BY p.oid)
       FROM pg_policy p JOIN cls ON cls.oid = p.polrelid),
    (SELECT string_agg(concat_ws(':', x.oid, x.extversion), ',' ORDER BY x.oid)
       FROM pg_extension x),
    (SELECT string_agg(concat_ws(':', g.oid, g.evtenabled), ',' ORDER BY g.oid)
       FROM pg_event_trigger g),
    (SELECT string_agg(concat_ws(':', d.objoid, d.classoid, d.objsubid, md5(d.description)),
        ',' ORDER BY d.objoid, d.classoid, d.objsubid)
       FROM pg_description d WHERE d.objoid >= 16384)
  )));
  RETURN md5(v_catalog || v_views);
END
$fn$;

-- Takes the snapshot: copies of the tables that hold rows, every sequence's state, every
-- materialized view's, the transaction boundary, the DDL epoch and the catalog's fingerprint.
CREATE FUNCTION _fixtures.snapshot() RETURNS void LANGUAGE plpgsql {{SETTINGS}} AS $fn$
DECLARE
  p_only text[] := '{}';
  p_except text[] := '{}';
  r record;
  v_has boolean;
  v_cols text;
  v_copy text;
  v_last bigint;
  v_called boolean;
  v_fresh boolean;
  v_def text;
  v_body text;
BEGIN
  PERFORM pg_catalog.set_config('fixtures.quiet', 'on', true);
  PERFORM pg_catalog.set_config('fixtures.cleaning', 'on', true);
  FOR r IN SELECT p.copy FROM _fixtures.pristine p LOOP
    EXECUTE 'DROP TABLE IF EXISTS ' || r.copy;
  END LOOP;
  DELETE FROM _fixtures.pristine;
  DELETE FROM _fixtures.seqstate;
  DELETE FROM _fixtures.mviews;
  DELETE FROM _fixtures.dirty;

  FOR r IN WITH RECURSIVE {{SELECTION}}
    SELECT t.oid, pg_catalog.format('%I.%I', t.nspname, t.relname) AS name
    FROM tbl t JOIN pg_catalog.pg_class c ON c.oid = t.oid WHERE c.relkind = 'r'
  LOOP
    EXECUTE 'SELECT EXISTS (SELECT FROM ONLY ' || r.name || ')' INTO v_has;
    CONTINUE WHEN NOT v_has;
    SELECT coalesce(string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum), '')
      INTO v_cols FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    v_copy := '_fixtures.p_' || r.oid;
    EXECUTE 'CREATE TABLE ' || v_copy || ' AS SELECT ctid AS "_fixtures ctid"'
      || CASE WHEN v_cols = '' THEN '' ELSE ', ' || v_cols END || ' FROM ONLY ' || r.name;
    EXECUTE 'CREATE TRIGGER _fixtures_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON '
      || v_copy || ' FOR EACH STATEMENT EXECUTE FUNCTION _fixtures.guard()';
    EXECUTE 'ALTER TABLE ' || v_copy || ' ENABLE ALWAYS TRIGGER _fixtures_guard';
    INSERT INTO _fixtures.pristine VALUES (r.oid, v_copy, v_cols,
      pg_catalog.pg_relation_filenode(r.oid));
  END LOOP;

  FOR r IN SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'S' AND c.relpersistence <> 't' AND n.nspname !~ '^pg_'
      AND n.nspname NOT IN ('information_schema', '_fixtures')
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                        AND d.objid = c.oid AND d.deptype = 'e')
  LOOP
    EXECUTE 'SELECT last_value, is_called FROM ' || r.name INTO v_last, v_called;
    INSERT INTO _fixtures.seqstate VALUES (r.oid, r.name, v_last, v_called);
  END LOOP;
  SELECT string_agg(pg_catalog.format(
      '(%s::oid, (SELECT ROW(last_value, is_called) FROM %s) IS DISTINCT FROM ROW(%s::bigint, %s))',
      q.seq, q.name, q.last_value, q.is_called::text), ', ' ORDER BY q.seq)
    INTO v_body FROM _fixtures.seqstate q;
  EXECUTE 'CREATE OR REPLACE FUNCTION _fixtures.seqs_moved() RETURNS oid[] LANGUAGE plpgsql '
    || 'AS $moved$ BEGIN RETURN ' || CASE WHEN v_body IS NULL THEN '''{}''::oid[]'
       ELSE 'ARRAY(SELECT v.s FROM (VALUES ' || v_body || ') v (s, moved) WHERE v.moved)' END
    || '; END $moved$';

  FOR r IN SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name,
      c.relispopulated AS populated
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'm' AND n.nspname !~ '^pg_'
      AND n.nspname NOT IN ('information_schema', '_fixtures')
  LOOP
    v_fresh := NOT r.populated;
    IF r.populated THEN
      v_def := pg_catalog.rtrim(pg_catalog.pg_get_viewdef(r.oid), E'; \n');
      BEGIN
        EXECUTE 'SELECT NOT EXISTS ((TABLE ' || r.name || ' EXCEPT ALL (' || v_def
          || ')) UNION ALL ((' || v_def || ') EXCEPT ALL TABLE ' || r.name || '))'
          INTO v_fresh;
      EXCEPTION WHEN OTHERS THEN
        v_fresh := false;
      END;
    END IF;
    INSERT INTO _fixtures.mviews VALUES (r.oid, r.name, r.populated, v_fresh);
  END LOOP;

  DELETE FROM _fixtures.baseline;
  INSERT INTO _fixtures.baseline VALUES (true, pg_catalog.pg_current_xact_id(),
    (SELECT e.last_value + e.is_called::integer FROM _fixtures.epoch e),
    _fixtures.fingerprint());
END
$fn$;
"#;

/// The guard triggers on the framework's own tables (the copies get theirs in `snapshot`).
pub(super) const GUARDS: &str = r#"
DO $guards$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['settings', 'baseline', 'pristine', 'seqstate', 'mviews', 'scope']
  LOOP
    EXECUTE 'CREATE TRIGGER _fixtures_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON '
      || '_fixtures.' || t || ' FOR EACH STATEMENT EXECUTE FUNCTION _fixtures.guard()';
    EXECUTE 'ALTER TABLE _fixtures.' || t || ' ENABLE ALWAYS TRIGGER _fixtures_guard';
  END LOOP;
  CREATE TRIGGER _fixtures_guard BEFORE UPDATE OR DELETE OR TRUNCATE ON _fixtures.dirty
    FOR EACH STATEMENT EXECUTE FUNCTION _fixtures.guard();
  ALTER TABLE _fixtures.dirty ENABLE ALWAYS TRIGGER _fixtures_guard;
END
$guards$;
"#;
