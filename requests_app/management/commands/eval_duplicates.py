"""Measure duplicate suggestions on labelled issue pairs (the GitBugs layout).

    manage.py eval_duplicates --issues ../shared/datasets/gitbugs/hadoop_bugs.csv \
        --pairs ../shared/datasets/gitbugs/hadoop_bugs-combined.csv [--pad-to 100000]

Loads every issue as an open request, then for each labelled pair queries with the first issue's
summary and description and records whether the second appears in the top 1, 5 and 10
suggestions, and how long each call took. ``--pad-to N`` first adds synthetic requests (words
drawn from the issues) until N requests exist, to time suggestions at scale. Everything runs in
one transaction that is rolled back at the end (``--keep`` commits it instead), and the command
refuses a database that already holds requests or accounts. The last line is a JSON object.
"""

from __future__ import annotations

import csv
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from requests_app.models import Account, FeatureRequest, ProductArea
from requests_app.selectors import duplicate_suggestions


class _Rollback(Exception):
    pass


def _read_csv(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        raise CommandError(f"{path} does not exist.") from None


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else 0.0


class Command(BaseCommand):
    help = "Recall@1/5/10 and latency of duplicate suggestions on labelled duplicate pairs."

    def add_arguments(self, parser):
        parser.add_argument("--issues", required=True, type=Path, help="GitBugs <project>_bugs.csv")
        parser.add_argument(
            "--pairs", required=True, type=Path, help="GitBugs <project>_bugs-combined.csv"
        )
        parser.add_argument(
            "--pad-to", type=int, default=0, help="Add synthetic requests up to this many."
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--keep",
            action="store_true",
            help="Commit the loaded requests instead of rolling back.",
        )

    def handle(self, *args, **options):
        issues = _read_csv(options["issues"])
        pairs = _read_csv(options["pairs"])
        if not issues or "Summary" not in issues[0] or "Issue id" not in issues[0]:
            raise CommandError("The issues file needs the columns Summary, Issue id, Description.")
        if not pairs or not {"Issue id", "Duplicate id"} <= set(pairs[0]):
            raise CommandError("The pairs file needs the columns Issue id, Duplicate id.")
        existing = FeatureRequest.objects.count() + Account.objects.count()
        if existing:
            raise CommandError(
                f"This database already holds {existing} requests and accounts. Run the "
                "evaluation against an empty database, e.g. createdb triage_eval and "
                "DATABASE_URL=postgres://…/triage_eval manage.py migrate."
            )
        try:
            with transaction.atomic():
                result = self._run(issues, pairs, options)
                if not options["keep"]:
                    raise _Rollback
        except _Rollback:
            pass
        self.stdout.write(json.dumps(result))

    def _run(self, issues, pairs, options) -> dict:
        started = time.perf_counter()
        by_issue: dict[str, dict[str, str]] = {}
        for row in issues:
            if row.get("Issue id") and row["Issue id"] not in by_issue:
                by_issue[row["Issue id"]] = row
        rows = [
            FeatureRequest(
                title=(row["Summary"] or row["Issue id"])[:200],
                problem=(row.get("Description") or row["Summary"] or "").strip() or "—",
                product_area=ProductArea.PLATFORM,
            )
            for row in by_issue.values()
        ]
        created = FeatureRequest.objects.bulk_create(rows, batch_size=1000)
        pk_of = {issue: obj.pk for issue, obj in zip(by_issue, created, strict=True)}
        padded = self._pad(list(by_issue.values()), options["pad_to"] - len(created), options)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "ANALYZE requests_app_featurerequest, requests_app_searchposting, "
                    "requests_app_searchterm"
                )
        loaded_s = time.perf_counter() - started
        self.stderr.write(
            f"loaded {len(created)} issues + {padded} synthetic requests in {loaded_s:.1f} s"
        )

        labelled = [
            (p["Issue id"], p["Duplicate id"])
            for p in pairs
            if p["Issue id"] in pk_of and p["Duplicate id"] in pk_of
        ]
        if not labelled:
            raise CommandError("No labelled pair has both issues in the issues file.")
        hits = {1: 0, 5: 0, 10: 0}
        latencies: list[float] = []
        duplicate_suggestions(text="warm up the connection", limit=10)
        for query_issue, duplicate_issue in labelled:
            row = by_issue[query_issue]
            text = f"{row['Summary']}\n{row.get('Description') or ''}"
            t0 = time.perf_counter()
            found = duplicate_suggestions(text=text, limit=10, exclude_id=pk_of[query_issue])
            latencies.append((time.perf_counter() - t0) * 1000)
            ids = [r.pk for r in found]
            target = pk_of[duplicate_issue]
            for k in hits:
                if target in ids[:k]:
                    hits[k] += 1
        n = len(labelled)
        result = {
            "database": connection.vendor,
            "requests": len(created) + padded,
            "recall_at_1": round(hits[1] / n, 3),
            "recall_at_5": round(hits[5] / n, 3),
            "recall_at_10": round(hits[10] / n, 3),
            "queries": n,
            "p50_ms": round(statistics.median(latencies), 1),
            "p95_ms": round(_percentile(latencies, 0.95), 1),
            "max_ms": round(max(latencies), 1),
        }
        self.stderr.write(
            f"{n} queries on {result['requests']} requests: recall@1 {result['recall_at_1']}, "
            f"@5 {result['recall_at_5']}, @10 {result['recall_at_10']}; "
            f"p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms"
        )
        return result

    def _pad(self, issues: list[dict[str, str]], count: int, options) -> int:
        """Add ``count`` synthetic requests whose words are drawn from the real issues."""
        if count <= 0:
            return 0
        rng = random.Random(options["seed"])
        vocabulary = [
            word
            for row in issues
            for word in f"{row['Summary']} {(row.get('Description') or '')[:600]}".split()
            if word.isalpha() and 2 < len(word) < 20
        ]
        if not vocabulary:
            return 0
        made = 0
        while made < count:
            batch = []
            for _ in range(min(2000, count - made)):
                title = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(4, 9)))
                problem = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(25, 80)))
                batch.append(
                    FeatureRequest(
                        title=title[:200], problem=problem, product_area=ProductArea.PLATFORM
                    )
                )
            FeatureRequest.objects.bulk_create(batch)
            made += len(batch)
            self.stderr.write(f"  synthetic requests: {made}/{count}")
        return made
