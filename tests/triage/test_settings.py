"""Configuration: typed environment helpers and start-up failures that name the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from triage.env import env_bool, env_int, parse_database_url, validate_redis_url

ROOT = Path(__file__).resolve().parents[2]


def test_sqlite_url_is_relative_to_project(tmp_path):
    config = parse_database_url("sqlite:///triage.sqlite3", base_dir=tmp_path)
    assert config == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(tmp_path / "triage.sqlite3"),
    }


def test_postgres_url_is_parsed():
    config = parse_database_url("postgres://u:p%40ss@db.example:6543/triage", base_dir=ROOT)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"], config["NAME"]) == (
        "u",
        "p@ss",
        "db.example",
        "6543",
        "triage",
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/triage", "DATABASE_URL must start with postgres:// or sqlite://"),
        ("postgres://localhost:5432/", "DATABASE_URL must name a database"),
        ("postgres://localhost:port/x", "DATABASE_URL has a port that is not a number"),
        ("nonsense", "DATABASE_URL must start with"),
    ],
)
def test_bad_database_url_names_the_variable(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_database_url(url, base_dir=ROOT)


def test_bad_redis_url():
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL must look like"):
        validate_redis_url("localhost:6379")


def test_env_bool_and_int(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert env_bool("X_FLAG") is True
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be one of"):
        env_bool("X_FLAG")
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be a whole number"):
        env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "-1")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be at least 0"):
        env_int("X_NUM", 1, minimum=0)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DEBUG",
            "SECRET_KEY",
            "TRIAGE_TESTING",
            "DATABASE_URL",
            "REDIS_URL",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_secret_key_stops_start_up():
    result = _manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off." in result.stderr


def test_bad_database_url_stops_start_up():
    result = _manage("check", DEBUG="1", DATABASE_URL="mysql://localhost/x")
    assert result.returncode != 0
    assert "DATABASE_URL must start with postgres:// or sqlite://" in result.stderr


def test_deploy_check_is_clean_with_debug_off():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY="k3y-" + "x7Qp9!vR2#mZ8@wL4$" * 4,
        ALLOWED_HOSTS="triage.example.com",
    )
    assert result.returncode == 0, result.stderr
