"""The eval_duplicates command on a small slice in the GitBugs layout."""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from requests_app.models import FeatureRequest
from tests.factories import FeatureRequestFactory

pytestmark = pytest.mark.django_db

ISSUES = [
    (
        "1",
        "NameNode crashes when edit log is corrupted",
        "The namenode fails to start after a "
        "power loss because the edit log has a truncated transaction.",
    ),
    (
        "2",
        "Namenode does not start with a truncated edit log",
        "After the disk filled up the NameNode refuses to start: edit log transaction truncated.",
    ),
    ("3", "Add a CSV export to the job history page", "Operators want to download job history."),
    (
        "4",
        "Job history cannot be exported",
        "There is no way to download the job history list as a CSV file for the operators.",
    ),
    ("5", "Typo in the YARN documentation", "The word resource is misspelt on the scheduler page."),
]


def _write(tmp_path):
    issues = tmp_path / "bugs.csv"
    with issues.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Summary", "Issue id", "Status", "Description"])
        for issue_id, summary, description in ISSUES:
            writer.writerow([summary, issue_id, "Resolved", description])
    pairs = tmp_path / "bugs-combined.csv"
    pairs.write_text("Issue id,Duplicate id\n2,1\n4,3\n9,1\n", encoding="utf-8")
    return issues, pairs


def test_reports_recall_and_latency_as_the_last_json_line_and_leaves_no_data(tmp_path):
    issues, pairs = _write(tmp_path)
    out = StringIO()
    call_command(
        "eval_duplicates", "--issues", issues, "--pairs", pairs, stdout=out, stderr=StringIO()
    )
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["queries"] == 2  # the pair naming a missing issue is skipped
    assert result["recall_at_1"] == 1.0 and result["recall_at_10"] == 1.0
    assert result["p95_ms"] >= result["p50_ms"] > 0
    assert FeatureRequest.objects.count() == 0


def test_pads_with_synthetic_requests(tmp_path):
    issues, pairs = _write(tmp_path)
    out = StringIO()
    call_command(
        "eval_duplicates",
        "--issues",
        issues,
        "--pairs",
        pairs,
        "--pad-to",
        "50",
        "--keep",
        stdout=out,
        stderr=StringIO(),
    )
    assert json.loads(out.getvalue().strip().splitlines()[-1])["requests"] == 50
    assert FeatureRequest.objects.count() == 50


def test_refuses_a_database_holding_other_data(tmp_path):
    issues, pairs = _write(tmp_path)
    FeatureRequestFactory()
    with pytest.raises(CommandError, match="already holds"):
        call_command("eval_duplicates", "--issues", issues, "--pairs", pairs)
    assert FeatureRequest.objects.count() == 1


def test_bad_files_are_explained(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("eval_duplicates", "--issues", tmp_path / "x.csv", "--pairs", tmp_path / "y")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(CommandError, match="columns"):
        call_command("eval_duplicates", "--issues", wrong, "--pairs", wrong)
