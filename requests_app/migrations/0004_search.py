"""Duplicate search on PostgreSQL: a BM25 posting list kept current by triggers.

``search_vector`` is a stored generated column (title weighted A, problem B, desired outcome C).
Statement-level triggers keep ``requests_app_searchposting`` (one row per request and lexeme with
its title-weighted term frequency and the request's length) and ``requests_app_searchterm``
(document frequency per lexeme; the row with the empty word holds the number of requests and the
sum of their lengths) in step with every insert, update, delete and truncate, set-wise, so bulk
loads stay fast. A trigram GIN index on the title serves short, half-typed queries.
On other databases the migration does nothing: the selector falls back to word overlap.
"""

from django.db import migrations

FORWARD = r"""
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE requests_app_featurerequest ADD COLUMN search_vector tsvector
  GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
    setweight(to_tsvector('english'::regconfig, coalesce(problem, '')), 'B') ||
    setweight(to_tsvector('english'::regconfig, coalesce(desired_outcome, '')), 'C')
  ) STORED;

CREATE INDEX requests_app_request_title_trgm
  ON requests_app_featurerequest USING gin (title gin_trgm_ops);

CREATE TABLE requests_app_searchposting (
  word text NOT NULL,
  request_id bigint NOT NULL,
  tf real NOT NULL,
  dl integer NOT NULL
);
CREATE INDEX requests_app_searchposting_word
  ON requests_app_searchposting (word) INCLUDE (request_id, tf, dl);
CREATE INDEX requests_app_searchposting_request ON requests_app_searchposting (request_id);

CREATE TABLE requests_app_searchterm (
  word text PRIMARY KEY,
  ndoc bigint NOT NULL DEFAULT 0,
  nentry bigint NOT NULL DEFAULT 0
);

-- Re-index the given requests: drop their postings, add the current ones, apply the net change
-- to the term counts in one upsert ordered by word (a fixed lock order: no deadlocks).
CREATE FUNCTION requests_app_search_reindex(ids bigint[]) RETURNS void
LANGUAGE sql AS $$
  WITH gone AS (
    DELETE FROM requests_app_searchposting WHERE request_id = ANY(ids)
    RETURNING word, request_id, dl
  ),
  fresh AS (
    INSERT INTO requests_app_searchposting (word, request_id, tf, dl)
    SELECT u.lexeme, f.id,
           (SELECT sum(CASE w WHEN 'A' THEN 3 ELSE 1 END) FROM unnest(u.weights) w),
           length(f.search_vector)
    FROM requests_app_featurerequest f CROSS JOIN LATERAL unnest(f.search_vector) u
    WHERE f.id = ANY(ids)
    RETURNING word, request_id, dl
  ),
  delta AS (
    SELECT word, sum(d) AS ndoc, 0::bigint AS nentry FROM (
      SELECT word, -1 AS d FROM gone UNION ALL SELECT word, 1 FROM fresh
    ) x GROUP BY word
    UNION ALL
    SELECT '', coalesce(sum(d), 0), coalesce(sum(d * dl), 0) FROM (
      SELECT DISTINCT request_id, dl, -1 AS d FROM gone
      UNION ALL SELECT DISTINCT request_id, dl, 1 FROM fresh
    ) docs
  )
  INSERT INTO requests_app_searchterm AS t (word, ndoc, nentry)
  SELECT word, ndoc, nentry FROM delta WHERE ndoc <> 0 OR nentry <> 0 ORDER BY word
  ON CONFLICT (word) DO UPDATE
    SET ndoc = t.ndoc + EXCLUDED.ndoc, nentry = t.nentry + EXCLUDED.nentry;
$$;

CREATE FUNCTION requests_app_search_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM requests_app_search_reindex(ARRAY(SELECT id FROM new_rows));
  RETURN NULL;
END $$;

CREATE FUNCTION requests_app_search_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM requests_app_search_reindex(ARRAY(
    SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.search_vector IS DISTINCT FROM o.search_vector
  ));
  RETURN NULL;
END $$;

CREATE FUNCTION requests_app_search_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM requests_app_search_reindex(ARRAY(SELECT id FROM old_rows));
  RETURN NULL;
END $$;

CREATE FUNCTION requests_app_search_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE requests_app_searchposting, requests_app_searchterm;
  RETURN NULL;
END $$;

CREATE TRIGGER requests_app_search_insert AFTER INSERT ON requests_app_featurerequest
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION requests_app_search_after_insert();
CREATE TRIGGER requests_app_search_update AFTER UPDATE ON requests_app_featurerequest
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION requests_app_search_after_update();
CREATE TRIGGER requests_app_search_delete AFTER DELETE ON requests_app_featurerequest
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION requests_app_search_after_delete();
CREATE TRIGGER requests_app_search_truncate AFTER TRUNCATE ON requests_app_featurerequest
  FOR EACH STATEMENT EXECUTE FUNCTION requests_app_search_after_truncate();

SELECT requests_app_search_reindex(ARRAY(SELECT id FROM requests_app_featurerequest));
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS requests_app_search_insert ON requests_app_featurerequest;
DROP TRIGGER IF EXISTS requests_app_search_update ON requests_app_featurerequest;
DROP TRIGGER IF EXISTS requests_app_search_delete ON requests_app_featurerequest;
DROP TRIGGER IF EXISTS requests_app_search_truncate ON requests_app_featurerequest;
DROP FUNCTION IF EXISTS requests_app_search_after_insert();
DROP FUNCTION IF EXISTS requests_app_search_after_update();
DROP FUNCTION IF EXISTS requests_app_search_after_delete();
DROP FUNCTION IF EXISTS requests_app_search_after_truncate();
DROP FUNCTION IF EXISTS requests_app_search_reindex(bigint[]);
DROP TABLE IF EXISTS requests_app_searchterm;
DROP TABLE IF EXISTS requests_app_searchposting;
DROP INDEX IF EXISTS requests_app_request_title_trgm;
ALTER TABLE requests_app_featurerequest DROP COLUMN IF EXISTS search_vector;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0003_imports_and_webhooks")]

    operations = [migrations.RunPython(forward, backward)]
