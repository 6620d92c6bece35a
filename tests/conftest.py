"""Shared fixtures: one user per role, and the real-service layer.

Without ``DATABASE_URL``/``REDIS_URL`` the suite runs on SQLite with tasks in-process. With both set
(CI does), tests marked ``integration`` run against PostgreSQL and a real Celery worker process
consuming from Redis. Under ``CI=true`` those tests fail instead of skipping when a service is
missing, so a green CI run always includes them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from triage.celery import app as celery_app
from triage.roles import EXECUTIVE, PRODUCT, SALES

from .factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing_real_services() -> str | None:
    if not settings.IS_POSTGRES:
        return "DATABASE_URL does not point at PostgreSQL"
    if not settings.REDIS_URL:
        return "REDIS_URL is not set"
    return None


def require_real_services() -> None:
    """Skip (or, under CI=true, fail) unless PostgreSQL and Redis are configured."""
    missing = _missing_real_services()
    if missing:
        if IN_CI:
            pytest.fail(f"integration test cannot run in CI: {missing}")
        pytest.skip(f"needs the real services: {missing}")


def require_postgres() -> None:
    """Skip (or, under CI=true, fail) unless the database is PostgreSQL."""
    if not settings.IS_POSTGRES:
        if IN_CI:
            pytest.fail("PostgreSQL test cannot run in CI: DATABASE_URL is not PostgreSQL")
        pytest.skip("needs PostgreSQL: DATABASE_URL does not point at it")


@pytest.fixture(autouse=True)
def _tasks_in_process(request):
    """Unit tests run tasks in-process; integration tests send them to the real broker."""
    eager = request.node.get_closest_marker("integration") is None
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = eager or not settings.REDIS_URL
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def sales_user(db):
    return UserFactory(username="sales", first_name="Dana", last_name="Brooks", roles=[SALES])


@pytest.fixture
def product_user(db):
    return UserFactory(username="product", first_name="Priya", last_name="N", roles=[PRODUCT])


@pytest.fixture
def exec_user(db):
    return UserFactory(username="exec", first_name="Elena", last_name="Marsh", roles=[EXECUTIVE])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_superuser=True, is_staff=True)


@pytest.fixture
def norole_user(db):
    return UserFactory(username="norole")


@pytest.fixture
def users(sales_user, product_user, exec_user, admin_user, norole_user):
    return {
        "sales": sales_user,
        "product": product_user,
        "exec": exec_user,
        "admin": admin_user,
        "norole": norole_user,
    }


def _test_database_url() -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"])
    host = s["HOST"] or "127.0.0.1"
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real ``celery worker`` process on the test database and the configured Redis."""
    require_real_services()
    with django_db_blocker.unblock():
        database_url = _test_database_url()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "TRIAGE_TESTING": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = ROOT / ".pytest_cache" / "celery-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    log = log_path.open("w")
    # Drop tasks left in the queue by an earlier, interrupted run.
    celery_app.control.purge()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "triage",
            "worker",
            "--pool=solo",
            "--loglevel=info",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"celery worker exited early; see {log_path}")
            try:
                previous = celery_app.conf.task_always_eager
                celery_app.conf.task_always_eager = False
                if celery_app.send_task("triage.ping", args=["ready"]).get(timeout=2) == "ready":
                    break
            except Exception:  # noqa: BLE001 - keep polling until the worker answers
                if time.monotonic() > deadline:
                    pytest.fail(f"celery worker did not start in 60 s; see {log_path}")
            finally:
                celery_app.conf.task_always_eager = previous
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
