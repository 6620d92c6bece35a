"""The real-service wiring: a task goes through Redis to a worker process and back."""

from __future__ import annotations

import pytest

from triage.celery import ping

pytestmark = pytest.mark.integration


def test_task_round_trip_through_a_real_worker(celery_worker_process):
    result = ping.delay("hello")
    assert result.get(timeout=10) == "hello"


def test_in_process_tasks_without_broker(settings):
    # Unit tests (and make run without REDIS_URL) run tasks in-process.
    assert ping.apply(args=["local"]).get() == "local"
