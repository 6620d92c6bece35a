"""Load benchmark: gunicorn (2 workers) on 127.0.0.1 against the configured database, driven by
virtual users per role for a bounded time. Prints a table, then one JSON line."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.urls import NoReverseMatch, resolve
from django.urls.exceptions import Resolver404

from requests_app.models import FeatureRequest
from strategy.models import RequestScore
from strategy.services import scores_recompute_stale
from strategy.synthetic import synthetic_data_build
from triage import loadbench
from triage.roles import EXECUTIVE, PRODUCT, SALES

ROOT = Path(settings.BASE_DIR)
BENCH_USERS = {"product": PRODUCT, "sales": SALES, "exec": EXECUTIVE, "api": PRODUCT}


def _mix(text: str) -> dict[str, int]:
    mix = {}
    for part in text.split(","):
        kind, _, share = part.partition("=")
        if kind.strip() not in loadbench.STEPS or not share.strip().isdigit():
            raise CommandError(
                f"--mix: {part!r} is not kind=percent with kind in {list(BENCH_USERS)}"
            )
        mix[kind.strip()] = int(share)
    if sum(mix.values()) != 100:
        raise CommandError("--mix shares must add up to 100.")
    return mix


def _api_available() -> bool:
    try:
        resolve("/api/v1/requests/")
    except (Resolver404, NoReverseMatch):
        return False
    return True


def _children_cpu() -> float:
    """User + system CPU seconds of this process's children that have exited."""
    times = os.times()
    return times.children_user + times.children_system


class Command(BaseCommand):
    help = (
        "Start gunicorn with 2 workers on 127.0.0.1 against the configured database, sign in "
        "virtual users per role and drive a realistic mix (board views, request submissions "
        "through the form, API reads) for a bounded time; print throughput, p50/p95/p99 per kind "
        "and errors, then one JSON line. Builds synthetic data up to --scale requests first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=50, help="concurrent virtual users")
        parser.add_argument("--duration", type=float, default=60, help="seconds of load")
        parser.add_argument("--think", type=float, default=1.0, help="mean think time, seconds")
        parser.add_argument("--max-actions", type=int, default=100_000, help="journeys in total")
        parser.add_argument(
            "--mix",
            default="product=50,sales=30,api=15,exec=5",
            help="share of users per kind (product, sales, api, exec), percent",
        )
        parser.add_argument("--scale", type=int, default=0, help="ensure this many requests")
        parser.add_argument("--port", type=int, default=8390)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument(
            "--threads",
            type=int,
            default=1,
            help="threads per worker; 1 (the default) is the sync worker production runs",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="do not start a Celery worker (with REDIS_URL set, one scores new requests "
            "during the run, as in production)",
        )

    def handle(self, *args, **o):
        if not 1 <= o["users"] <= 500:
            raise CommandError("--users must be between 1 and 500.")
        if not 1 <= o["duration"] <= 1800:
            raise CommandError("--duration must be between 1 and 1800 seconds.")
        mix = _mix(o["mix"])
        if not _api_available() and mix.get("api"):
            self.stdout.write("No API under /api/v1/: its share goes to the board.")
            mix["product"] = mix.get("product", 0) + mix.pop("api")
        prepared = self._data(o["scale"])
        passwords = self._users()
        plan = self._plan(mix, o["users"], passwords)
        last_before = FeatureRequest.objects.order_by("-pk").values_list("pk", flat=True).first()
        new_requests = FeatureRequest.objects.filter(pk__gt=last_before or 0)
        env = self._server_env()
        worker = None
        if settings.REDIS_URL and not o["no_worker"]:
            worker = self._start_worker(env)
        try:
            server = self._start_server(env, o["port"], o["workers"], o["threads"])
        except BaseException:
            self._stop(worker)
            raise
        driver_before = sum(os.times()[:2])
        try:
            self.stdout.write(
                f"Driving {len(plan)} users for {o['duration']:.0f} s "
                f"(think {o['think']} s, mix {mix}) ..."
            )
            results, elapsed = loadbench.run(
                host="127.0.0.1",
                port=o["port"],
                plan=plan,
                duration=o["duration"],
                think=o["think"],
                max_actions=o["max_actions"],
                seed=o["seed"],
            )
        except loadbench.LoadError as exc:
            raise CommandError(f"Set-up failed: {exc}") from None
        finally:
            # CPU seconds of processes this command started are known once they have exited.
            before = _children_cpu()
            self._stop(server)
            after_server = _children_cpu()
            self._stop(worker)
            after_worker = _children_cpu()
        report = loadbench.summary(results, elapsed)
        report["cpu_s"] = {
            "web": round(after_server - before, 1),  # gunicorn, every worker, the whole run
            "celery_worker": round(after_worker - after_server, 1),
            "load_driver": round(sum(os.times()[:2]) - driver_before, 1),
        }
        report.update(
            users=len(plan),
            think_s=o["think"],
            workers=o["workers"],
            threads=o["threads"],
            celery_worker=worker is not None,
            submitted_during_run=new_requests.count(),
            scored_during_run=new_requests.filter(score__stale=False).count(),
            database=settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
            feature_requests=FeatureRequest.objects.count(),
            **prepared,
        )
        self._print(report)

    def _data(self, scale: int) -> dict:
        have = FeatureRequest.objects.count()
        out: dict = {}
        if scale > have:
            self.stdout.write(f"Building {scale - have} synthetic requests ...")
            start = time.perf_counter()
            synthetic_data_build(requests=scale - have)
            out["build_s"] = round(time.perf_counter() - start, 1)
        missing = FeatureRequest.objects.filter(score__isnull=True).exists()
        stale = RequestScore.objects.filter(stale=True).exists()
        if missing or stale:
            start = time.perf_counter()
            out["scored"] = scores_recompute_stale(cause="bench_load", include_missing=True)
            out["score_s"] = round(time.perf_counter() - start, 1)
        if connection.vendor == "postgresql":
            # A recompute rewrites every score row it touches: without fresh statistics and
            # with the dead rows still in place the board's plans go wrong (docs/performance.md).
            with connection.cursor() as cursor:
                cursor.execute("VACUUM (ANALYZE) strategy_requestscore")
        return out

    def _users(self) -> dict[str, str]:
        User = get_user_model()
        passwords = {}
        for kind, role in BENCH_USERS.items():
            user, _ = User.objects.get_or_create(username=f"bench-{kind}")
            password = secrets.token_urlsafe(16)
            user.set_password(password)
            user.is_active = True
            user.save()
            user.groups.set([Group.objects.get_or_create(name=role)[0]])
            passwords[kind] = password
        return passwords

    def _plan(self, mix, users, passwords):
        counts = {kind: users * share // 100 for kind, share in mix.items()}
        largest = max(mix, key=mix.get)
        counts[largest] += users - sum(counts.values())
        return [
            (kind, f"bench-{kind}", passwords[kind])
            for kind, count in counts.items()
            for _ in range(count)
        ]

    def _server_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DEBUG": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            # plain HTTP on loopback: no HTTPS redirect, cookies without the secure flag
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "SECURE_HSTS_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
        }

    def _start_worker(self, env: dict[str, str]) -> subprocess.Popen:
        """One Celery worker on the same database and Redis, as a deployment runs beside the web
        processes; returns once it answers a ping."""
        from triage.celery import app as celery_app

        command = [sys.executable, "-m", "celery", "-A", "triage", "worker", "--pool=solo",
                   "--loglevel=warning", "--without-gossip", "--without-mingle",
                   "-n", f"bench-load-{os.getpid()}@%h"]  # fmt: skip

        def ready() -> bool:
            try:
                return celery_app.send_task("triage.ping", args=["ready"]).get(timeout=2) == "ready"
            except Exception:  # noqa: BLE001 - not up yet
                return False

        worker = self._start(command, env, name="the celery worker", ready=ready)
        self.stdout.write("Celery worker ready.")
        return worker

    def _start_server(
        self, env: dict[str, str], port: int, workers: int, threads: int
    ) -> subprocess.Popen:
        # the server's static files storage wants a manifest: collect with the server's settings
        subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "triage.wsgi:application",
            f"--workers={workers}",
            f"--bind=127.0.0.1:{port}",
            "--timeout=60",
            "--log-level=warning",
        ]
        if threads > 1:
            command += ["--worker-class=gthread", f"--threads={threads}"]

        def ready() -> bool:
            try:
                with urllib.request.urlopen(  # noqa: S310 - loopback URL built here
                    f"http://127.0.0.1:{port}/healthz/", timeout=2
                ) as response:
                    return response.status == 200
            except OSError:
                time.sleep(0.3)
                return False

        return self._start(command, env, name="gunicorn", ready=ready)

    def _start(
        self, command: list[str], env: dict[str, str], *, name: str, ready
    ) -> subprocess.Popen:
        """Start ``command`` and return it once ``ready()`` is true; stop it and fail when it
        exits or is not ready within 60 s."""
        process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - fixed argv
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError(f"{name} exited with {process.returncode}")
            if ready():
                return process
        self._stop(process)
        raise CommandError(f"{name} did not answer within 60 s")

    def _stop(self, process: subprocess.Popen | None) -> None:
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _print(self, report: dict) -> None:
        self.stdout.write(
            f"\n{report['requests']} requests in {report['seconds']} s: "
            f"{report['throughput_rps']} req/s, {report['errors']} errors"
        )
        self.stdout.write(
            f"{'kind':<14}{'count':>8}{'errors':>8}{'req/s':>9}"
            f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        )
        for kind, row in report["kinds"].items():
            self.stdout.write(
                f"{kind:<14}{row['count']:>8}{row['errors']:>8}{row['rps']:>9}"
                f"{row['p50_ms']:>9}{row['p95_ms']:>9}{row['p99_ms']:>9}"
            )
        cpu = report["cpu_s"]
        self.stdout.write(
            f"CPU seconds: web {cpu['web']}, celery worker {cpu['celery_worker']}, "
            f"load driver {cpu['load_driver']} (machine: {os.cpu_count()} cores)"
        )
        for example in report["error_examples"]:
            self.stdout.write(f"  error: {example}")
        self.stdout.write(json.dumps(report))
