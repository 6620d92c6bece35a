"""Lens snapshots: what the board's unfiltered views need about *every* request they show.

A board page lists 50 requests, but each row's lens ranks ("P #3 · S #41") and the page count
depend on the whole population (about 70,000 open requests at 100,000). A snapshot holds that
population for one status choice: how many requests it has and the sorted product-lens and
sales-lens values of the scored ones. A rank is then a binary search (1 + how many values are
strictly higher, as ``RANK()``), and a page costs no scan of the population.

Freshness. On PostgreSQL every statement that writes requests or scores advances a sequence (the
*data generation*, migration ``strategy/0006``). A process keeps its snapshot while the generation
is unchanged and rebuilds it when it moved, at most once every ``BOARD_RANKS_REFRESH_SECONDS``
(default 5; 0 rebuilds on every change) so that a busy stream of writes does not turn every page
view into a rebuild. Within that window ranks describe the population as it was a few seconds
before; each row's own values are always current. A snapshot also never outlives
``MAX_LIFETIME_SECONDS``, which bounds the one inexactness the generation allows: a rebuild that
read the new generation an instant before the write that advanced it committed.

Elsewhere (SQLite, the embedded default at demo scale) there is no generation and every page
builds the snapshot afresh, so ranks are always exact. So does a page rendered inside a
transaction, whose snapshot could hold that transaction's uncommitted writes.
"""

from __future__ import annotations

import bisect
import sys
import threading
import time
from array import array
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

GENERATION_SEQUENCE = "strategy_board_generation"
MAX_LIFETIME_SECONDS = 60.0


@dataclass(frozen=True)
class LensSnapshot:
    """One status choice's population: its size and its scored lens values, ascending."""

    status: str
    generation: int | None
    built_at: float  # time.monotonic()
    count: int
    product: array
    sales: array

    def ranks(self, product: float, sales: float) -> tuple[int, int]:
        """(product rank, sales rank) of these lens values: 1 + how many are strictly higher.
        Unscored requests are not in the arrays: at 0, 0 they never outrank anyone."""
        return (
            1 + len(self.product) - bisect.bisect_right(self.product, product),
            1 + len(self.sales) - bisect.bisect_right(self.sales, sales),
        )


def data_generation() -> int | None:
    """The data generation (PostgreSQL), or None where there is none."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last_value FROM {GENERATION_SEQUENCE}")  # noqa: S608 - constant
        return cursor.fetchone()[0]


_snapshots: dict[str, LensSnapshot] = {}
_build_locks: dict[str, threading.Lock] = {}
_registry_lock = threading.Lock()


def lens_snapshot(status: str) -> LensSnapshot:
    """The snapshot for a board narrowed by status only (``BoardFilters.status``): this process's
    copy while it is current (see the module notes), else a new one."""
    generation = data_generation()
    with _registry_lock:
        current = _snapshots.get(status)
        build_lock = _build_locks.setdefault(status, threading.Lock())
    if current is not None and _usable(current, generation):
        return current
    if current is not None and not build_lock.acquire(blocking=False):
        return current  # another thread is rebuilding it: this page uses the previous one
    if current is None:
        build_lock.acquire()
    try:
        with _registry_lock:
            latest = _snapshots.get(status)
        if latest is not None and latest is not current and _usable(latest, generation):
            return latest  # built by the thread this one waited for
        snapshot = _build(status)
        # Kept only when built outside a transaction: inside one it may include this
        # transaction's own uncommitted writes, which a rollback would leave in the snapshot.
        if snapshot.generation is not None and not connection.in_atomic_block:
            with _registry_lock:
                _snapshots[status] = snapshot
        return snapshot
    finally:
        build_lock.release()


def snapshots_forget() -> None:
    """Drop this process's snapshots (tests; nothing else needs it)."""
    with _registry_lock:
        _snapshots.clear()


def _usable(snapshot: LensSnapshot, generation: int | None) -> bool:
    if generation is None or snapshot.generation is None:
        return False
    age = time.monotonic() - snapshot.built_at
    if age >= MAX_LIFETIME_SECONDS:
        return False
    return snapshot.generation == generation or age < settings.BOARD_RANKS_REFRESH_SECONDS


def _build(status: str) -> LensSnapshot:
    # Imported here: the selectors use this module.
    from .selectors import BoardFilters, _filtered, _lens_values

    filters = BoardFilters(status=status)
    generation = data_generation()  # read before the data, so a later write is noticed
    built_at = time.monotonic()
    count = _filtered(filters).count()
    values = _lens_values(filters)
    if connection.vendor == "postgresql":
        # Both columns as raw big-endian doubles: one row and two byte strings to transfer,
        # instead of a Python tuple per request.
        inner, params = values.query.sql_with_params()
        sql = (
            "SELECT string_agg(float8send(w.lens_product), ''), "  # noqa: S608 - ORM SQL
            f"string_agg(float8send(w.lens_sales), '') FROM ({inner}) w"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            raw_product, raw_sales = cursor.fetchone()
        product, sales = _doubles(raw_product), _doubles(raw_sales)
    else:
        pairs = list(values.values_list("lens_product", "lens_sales"))
        product = array("d", (p for p, _ in pairs))
        sales = array("d", (s for _, s in pairs))
    return LensSnapshot(
        status=status,
        generation=generation,
        built_at=built_at,
        count=count,
        product=array("d", sorted(product)),
        sales=array("d", sorted(sales)),
    )


def _doubles(raw) -> array:
    values = array("d")
    if raw:
        values.frombytes(bytes(raw))
        if sys.byteorder == "little":  # float8send writes network (big-endian) order
            values.byteswap()
    return values
