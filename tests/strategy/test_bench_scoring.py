"""The benchmark command: refuses foreign data, measures, prints a table and one JSON line."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from requests_app.models import Account, Ask, FeatureRequest
from strategy.models import RequestScore
from tests.factories import FeatureRequestFactory

pytestmark = pytest.mark.django_db

SMALL = ["--requests", "30", "--asks", "80", "--deals", "12", "--accounts", "10"]
KEYS = [
    "database",
    "requests",
    "asks",
    "deals",
    "accounts",
    "full_recompute_s",
    "naive_per_row_s",
    "speedup",
    "sql_floor_s",
    "floor_ratio",
    "deal_change_to_score_s",
    "board_first_page_ms",
    "board_queries",
    "board_first_page_cold_ms",
    "board_cold_queries",
    "duplicate_suggest_p95_ms",
]


def run(capsys, *args) -> dict:
    call_command("bench_scoring", *args)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_refuses_a_database_with_other_data(capsys):
    FeatureRequestFactory(title="A real request")
    with pytest.raises(CommandError, match="Refusing to run: this database holds data"):
        call_command("bench_scoring", *SMALL)
    assert FeatureRequest.objects.count() == 1


def test_measures_and_prints_one_json_line(capsys, settings):
    result = run(capsys, *SMALL, "--naive-sample", "5", "--trials", "1")
    assert list(result) == KEYS
    assert result["requests"] == 30 and result["asks"] == 80
    assert result["full_recompute_s"] > 0 and result["naive_per_row_s"] > 0
    # The printed seconds are rounded to milliseconds, so the ratio they give is only
    # known within that rounding; the printed speedup must fall inside it.
    full, naive, half_ms = result["full_recompute_s"], result["naive_per_row_s"], 0.0005
    low = (naive - half_ms) / (full + half_ms)
    high = (naive + half_ms) / max(full - half_ms, 1e-9)
    assert low - 0.05 <= result["speedup"] <= high + 0.05
    assert result["board_queries"] is not None
    assert result["board_first_page_cold_ms"] > 0 and result["board_cold_queries"] is not None
    if settings.IS_POSTGRES:
        assert result["sql_floor_s"] > 0
    assert RequestScore.objects.filter(stale=False).count() == 30
    assert Ask.objects.count() == 80


def test_other_sizes_need_reset_which_removes_only_benchmark_data(capsys):
    run(capsys, *SMALL, "--naive-sample", "2", "--trials", "1")
    with pytest.raises(CommandError, match="--reset"):
        call_command("bench_scoring", "--requests", "20", "--asks", "40", "--deals", "5",
                     "--accounts", "5")  # fmt: skip
    result = run(
        capsys,
        "--requests", "20", "--asks", "40", "--deals", "5", "--accounts", "5",
        "--naive-sample", "2", "--trials", "1", "--reset",
    )  # fmt: skip
    assert result["requests"] == 20
    assert FeatureRequest.objects.count() == 20 and Account.objects.count() == 5
