import json
import os
import statistics

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from strategy import benchmark
from strategy.models import RequestScore
from strategy.services import scores_recompute


class Command(BaseCommand):
    help = (
        "Build synthetic data in the configured (otherwise empty) database and measure the scoring "
        "engine: full recompute, per-row ORM saves, the one-statement SQL floor, deal change to "
        "fresh score through a worker, the board's first page, duplicate suggestions. Prints a "
        "table, then one JSON line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=100_000)
        parser.add_argument("--asks", type=int, default=300_000)
        parser.add_argument("--deals", type=int, default=20_000)
        parser.add_argument("--accounts", type=int, default=5_000)
        parser.add_argument(
            "--naive-sample",
            type=int,
            default=300,
            help="Requests scored through per-row ORM saves; the time is extrapolated.",
        )
        parser.add_argument("--trials", type=int, default=7, help="Deal changes to time.")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the benchmark's own synthetic data first (nothing else).",
        )

    def handle(self, *args, **opts):
        sizes = {k: opts[k] for k in ("requests", "asks", "deals", "accounts")}
        if min(sizes.values()) < 1:
            raise CommandError("Every size must be at least 1.")
        foreign = benchmark.foreign_data()
        if foreign:
            raise CommandError(
                "Refusing to run: this database holds data the benchmark did not create ("
                + ", ".join(foreign)
                + "). Point DATABASE_URL at an empty database, e.g. "
                "createdb triage_bench && DATABASE_URL=postgres://…/triage_bench "
                "manage.py migrate && manage.py bench_scoring"
            )
        if opts["reset"]:
            benchmark.reset()
        existing = benchmark.bench_counts()
        if existing != sizes:
            if any(existing.values()):
                raise CommandError(
                    f"Benchmark data of another size is present ({existing}); "
                    "run again with --reset to replace it."
                )
            self.stdout.write(f"Generating {sizes} …")
            seconds, _ = benchmark.timed(lambda: benchmark.generate(**sizes))
            self.stdout.write(f"  generated in {seconds:.1f} s")
        else:
            self.stdout.write(f"Reusing benchmark data {sizes}")

        rows = []
        # The one-statement floor first; the engine then rewrites every row with explanations.
        numbers_s = benchmark.sql_floor()
        floor_totals = benchmark.totals() if numbers_s is not None else None
        if not RequestScore.objects.filter(computed_at__isnull=False).exists():
            first_s, _ = benchmark.timed(lambda: scores_recompute(cause="Benchmark"))
            rows.append(("first full recompute (rows inserted, history)", f"{first_s:.2f} s"))
        benchmark.vacuum_scores()
        floor_s = benchmark.sql_floor_same_rows()
        benchmark.vacuum_scores()
        full_s, written = benchmark.timed(lambda: scores_recompute(cause="Benchmark"))
        rows.append((f"full recompute ({written} rows upserted)", f"{full_s:.2f} s"))
        if floor_s is not None:
            benchmark.vacuum_scores()
            engine_cpu = benchmark.cpu_seconds(benchmark.full_recompute_one_connection)
            numbers_cpu = benchmark.cpu_seconds(benchmark.sql_floor)
            if engine_cpu is not None and numbers_cpu is not None:
                rows.append(
                    (
                        "CPU: full recompute (process + database backend)",
                        f"{engine_cpu:.1f} s (÷ 2 cores ≈ {engine_cpu / 2:.1f} s when quiet)",
                    )
                )
                rows.append(("CPU: numbers-only statement", f"{numbers_cpu:.1f} s"))
            benchmark.vacuum_scores()
            scores_recompute(cause="Benchmark")  # the engine's rows back
            engine = benchmark.totals()
            drift = max(abs(engine[k] - v) for k, v in floor_totals.items() if k in engine)
            rows.append(
                ("SQL floor: same rows, one INSERT … SELECT … ON CONFLICT", f"{floor_s:.2f} s")
            )
            rows.append(("  numbers only (no explanations), one statement", f"{numbers_s:.2f} s"))
            rows.append(("  max |engine total − numbers-only total|", f"{drift:.6f}"))

        per_row, sample = benchmark.naive_per_row(opts["naive_sample"])
        naive_s = per_row * sizes["requests"]
        rows.append(
            (
                f"per-row ORM saves (sample of {sample}, extrapolated)",
                f"{naive_s:.1f} s ({per_row * 1000:.1f} ms/request)",
            )
        )
        # The sample rewrote some rows without history; put the engine's rows back.
        scores_recompute(cause="Benchmark")

        deal_s = None
        if benchmark.worker_available():
            durations = benchmark.deal_change_to_score(trials=opts["trials"])
            deal_s = statistics.median(durations)
            rows.append(
                (
                    f"deal change → fresh score via worker (median of {len(durations)})",
                    f"{deal_s:.3f} s (max {max(durations):.3f} s)",
                )
            )
        else:
            rows.append(("deal change → fresh score via worker", "skipped: no worker answered"))

        # The board as it is read after the nightly refresh, which vacuums what it rewrote.
        benchmark.vacuum_scores()
        board_ms, board_queries = benchmark.board_first_page()
        cold_ms, cold_queries = benchmark.board_first_page(cold=True)
        for label, ms, queries in (
            ("board first page, lens snapshot current", board_ms, board_queries),
            ("board first page, lens snapshot rebuilt", cold_ms, cold_queries),
        ):
            rows.append(
                (
                    f"{label} (median server time, queries)",
                    "n/a" if ms is None else f"{ms:.1f} ms, {queries} queries",
                )
            )
        dup_ms = benchmark.duplicate_suggest_p95()
        rows.append(("duplicate suggestions p95", "n/a" if dup_ms is None else f"{dup_ms:.1f} ms"))
        benchmark.remove_bench_user()

        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        rows.append(("machine load average (1, 5, 15 min) at the end", load))
        width = max(len(label) for label, _ in rows)
        self.stdout.write(f"{'measure':<{width}}  result")
        self.stdout.write(f"{'-' * width}  {'-' * 30}")
        for label, value in rows:
            self.stdout.write(f"{label:<{width}}  {value}")

        def r(x, digits=3):
            return None if x is None else round(x, digits)

        self.stdout.write(
            json.dumps(
                {
                    "database": connection.vendor,
                    **sizes,
                    "full_recompute_s": r(full_s),
                    "naive_per_row_s": r(naive_s),
                    "speedup": r(naive_s / full_s, 1),
                    "sql_floor_s": r(floor_s),
                    "floor_ratio": r(full_s / floor_s, 2) if floor_s else None,
                    "deal_change_to_score_s": r(deal_s),
                    "board_first_page_ms": r(board_ms, 1),
                    "board_queries": board_queries,
                    "board_first_page_cold_ms": r(cold_ms, 1),
                    "board_cold_queries": cold_queries,
                    "duplicate_suggest_p95_ms": r(dup_ms, 1),
                }
            )
        )
