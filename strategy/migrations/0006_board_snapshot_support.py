"""Support for the board's lens snapshots (strategy/board_snapshot.py).

- On PostgreSQL, a covering index on the score table (``score_lenses``): the lens values of every
  request read from the index alone, instead of scanning score rows that carry their whole
  explanation. SQLite has no covering indexes and no need of one at its scale.
- On PostgreSQL, a data generation: a sequence that every statement writing requests or scores
  advances, so a process can tell in one cheap read whether anything changed since it last
  looked.
"""

from django.db import migrations

SEQUENCE = "strategy_board_generation"
TABLES = ("requests_app_featurerequest", "strategy_requestscore")


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS score_lenses ON strategy_requestscore (request_id) "
        "INCLUDE (strategic_fit, customer_breadth, revenue_at_stake, total)"
    )
    schema_editor.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE}")
    schema_editor.execute(
        "CREATE OR REPLACE FUNCTION strategy_board_generation_advance() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('{SEQUENCE}'); RETURN NULL; END $$"
    )
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_board_generation "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION strategy_board_generation_advance()"
        )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_board_generation ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS strategy_board_generation_advance()")
    schema_editor.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")
    schema_editor.execute("DROP INDEX IF EXISTS score_lenses")


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0004_search"),
        ("strategy", "0005_score_partial_indexes"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
