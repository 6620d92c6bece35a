"""The default scoring policy, version 1 (model defaults: DESIGN section 3)."""

from django.db import migrations


def create_default_policy(apps, schema_editor):
    ScoringPolicy = apps.get_model("strategy", "ScoringPolicy")
    if not ScoringPolicy.objects.exists():
        ScoringPolicy.objects.create(version=1, reason="Default policy")


class Migration(migrations.Migration):
    dependencies = [("strategy", "0001_initial")]

    operations = [migrations.RunPython(create_default_policy, migrations.RunPython.noop)]
