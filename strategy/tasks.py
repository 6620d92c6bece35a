"""Background work for scores: recompute what is stale, sweep every minute, refresh nightly.

How bursts coalesce: a change marks its scores stale in the database and, after commit, calls
``scores_recompute_enqueue``. That sends one ``scores_recompute_stale`` task unless one is already
waiting in the queue (a short-lived cache key, added atomically with ``cache.add``). The task
clears the key when it starts and then recomputes *every* stale score, so changes committed before
it starts are all picked up by it, and changes committed after it started enqueue the next one.
A hundred changes to the same request produce one recompute of it.

Nothing depends on the broker being up: the stale flag is written with the change, an enqueue
failure is logged and swallowed, and the beat sweep recomputes whatever is still stale.
"""

from __future__ import annotations

import logging
import uuid

from celery import shared_task
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from . import services

logger = logging.getLogger(__name__)

PENDING_KEY = "scoring:recompute-pending"
PENDING_TTL = 30  # seconds; a lost task only delays the next enqueue this long (the sweep repairs)
LOCK_KEY = "scoring:refresh-lock"
LOCK_TTL = 15 * 60  # longer than the hard time limit of the tasks holding it
ADVISORY_LOCK_ID = 727_300_001  # PostgreSQL advisory lock key of the sweep and nightly refresh
NIGHTLY_CAUSE = "Nightly refresh: deal urgency moves with the calendar"

_TASK_OPTIONS = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 3,
    "soft_time_limit": 9 * 60,
    "time_limit": 10 * 60,
}


def scores_recompute_enqueue() -> bool:
    """Send one recompute task unless one is already pending. Returns whether a task was sent.
    Never raises: with the broker (or the cache) down the scores stay stale for the sweep."""
    try:
        if not cache.add(PENDING_KEY, "1", timeout=PENDING_TTL):
            return False
    except Exception:  # noqa: BLE001 - cache down: still try to send, the task is idempotent
        logger.warning("score recompute: cache unavailable, sending without coalescing")
    try:
        # No publish retries: a user's write must not wait on a broker that is down.
        scores_recompute_stale_task.apply_async(retry=False)
    except Exception:  # noqa: BLE001 - broker down: the write stands, the sweep repairs
        logger.exception("score recompute: could not enqueue; stale scores wait for the sweep")
        _forget(PENDING_KEY)
        return False
    return True


def _forget(key: str) -> None:
    try:
        cache.delete(key)
    except Exception:  # noqa: BLE001 - the key expires on its own
        logger.warning("score recompute: could not clear %s", key)


@shared_task(name="strategy.scores_recompute_stale", **_TASK_OPTIONS)
def scores_recompute_stale_task() -> int:
    """Recompute every stale score. Safe to run twice or concurrently (row locks, upserts)."""
    _forget(PENDING_KEY)  # changes committed from now on enqueue the next run
    return services.scores_recompute_stale()


def _locked(work, *, name: str) -> int | None:
    """Run ``work`` unless another sweep or refresh holds the lock; None when skipped.

    On PostgreSQL the lock is a session advisory lock: it dies with the connection of the worker
    holding it, so a worker killed mid-refresh blocks nobody. Elsewhere it is a cache key that
    expires after ``LOCK_TTL``."""
    if connection.vendor == "postgresql":
        return _locked_by_database(work, name=name)
    token = uuid.uuid4().hex
    if not cache.add(LOCK_KEY, token, timeout=LOCK_TTL):
        logger.info("%s skipped: another score refresh is running", name)
        return None
    try:
        return work()
    finally:
        if cache.get(LOCK_KEY) == token:
            cache.delete(LOCK_KEY)


def _locked_by_database(work, *, name: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_ID])
        if not cursor.fetchone()[0]:
            logger.info("%s skipped: another score refresh is running", name)
            return None
    try:
        return work()
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_ID])
        except DatabaseError:
            logger.warning("%s: connection lost; the lock went with it", name)


@shared_task(name="strategy.scores_sweep", **_TASK_OPTIONS)
def scores_sweep_task() -> int | None:
    """Every minute (beat): recompute whatever is still stale, e.g. after a broker outage."""
    return _locked(
        lambda: services.scores_recompute_stale(include_missing=True), name="score sweep"
    )


@shared_task(name="strategy.scores_refresh_all", **_TASK_OPTIONS)
def scores_refresh_all_task() -> int | None:
    """Nightly (beat): recompute every score, because urgency moves with the calendar, then
    vacuum the score table the recompute rewrote."""

    def refresh() -> int:
        written = services.scores_recompute(cause=NIGHTLY_CAUSE)
        services.scores_vacuum()
        return written

    return _locked(refresh, name="nightly refresh")
