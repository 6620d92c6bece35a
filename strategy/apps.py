from django.apps import AppConfig


class StrategyConfig(AppConfig):
    name = "strategy"
    verbose_name = "Strategy and scoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Scores follow their inputs: writes mark them stale and schedule a recompute.
        from . import signals

        signals.connect()
