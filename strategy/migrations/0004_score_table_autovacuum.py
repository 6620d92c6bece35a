"""Every recompute rewrites score rows; vacuum the score table sooner than the default 20% churn."""

from django.db import migrations


def tune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE strategy_requestscore SET (autovacuum_vacuum_scale_factor = 0.02, "
            "autovacuum_analyze_scale_factor = 0.02)"
        )


def untune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE strategy_requestscore RESET (autovacuum_vacuum_scale_factor, "
            "autovacuum_analyze_scale_factor)"
        )


class Migration(migrations.Migration):
    dependencies = [("strategy", "0003_score_stale_cause_and_alternatives")]

    operations = [migrations.RunPython(tune, untune)]
