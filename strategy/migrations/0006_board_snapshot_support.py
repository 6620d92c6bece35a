"""Support for the board's lens snapshots (strategy/board_snapshot.py).

- A covering index on the score table: the lens values of every request read from the index
  alone, instead of scanning score rows that carry their whole explanation.
- On PostgreSQL, a data generation: a sequence that every statement writing requests or scores
  advances, so a process can tell in one cheap read whether anything changed since it last
  looked.
"""

from django.db import migrations, models

SEQUENCE = "strategy_board_generation"
TABLES = ("requests_app_featurerequest", "strategy_requestscore")


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
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


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0004_search"),
        ("strategy", "0005_score_partial_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="requestscore",
            index=models.Index(
                fields=["request"],
                include=["strategic_fit", "customer_breadth", "revenue_at_stake", "total"],
                name="score_lenses",
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
