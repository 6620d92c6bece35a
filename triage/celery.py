"""The Celery application. Workers: ``celery -A triage worker``; beat: ``celery -A triage beat``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "triage.settings")

app = Celery("triage")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="triage.ping")
def ping(value: str = "pong") -> str:
    """Round trip used by health checks and the real-worker tests."""
    return value
