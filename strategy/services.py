"""Writes and business rules for strategy: the scoring policy and the scores it produces.

Scores are derived data. ``scores_mark_stale`` flags the scores a change affects (and schedules a
recompute after commit); ``scores_recompute`` brings them back up to date set-wise: it aggregates
the inputs of a batch of requests in a few SQL queries, computes in Python with the pure functions
of :mod:`strategy.scoring`, and upserts every score row of the batch in one statement.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.db.models import Case, Count, IntegerField, Max, Sum, Value, When
from django.utils import timezone

from requests_app.models import Account, Ask, Deal, Escalation, FeatureRequest
from requests_app.services import audit_record, request_version_claim, snapshot

from . import scoring, scoring_sql
from .models import (
    RequestScore,
    ScoreHistory,
    ScoringPolicy,
    StrategicTheme,
    Strength,
    ThemeAlignment,
)

logger = logging.getLogger(__name__)

# --- scoring policy ------------------------------------------------------------------------------

POLICY_FIELDS = [f for f in scoring.PolicyParams.__dataclass_fields__ if f != "version"]


def policy_current() -> ScoringPolicy:
    """The policy in force: the highest version. Creates version 1 (the defaults of DESIGN
    section 3) when there is none, e.g. after a test flushed the data migration's row."""
    policy = ScoringPolicy.objects.order_by("-version").first()
    if policy is None:
        policy, _ = ScoringPolicy.objects.get_or_create(
            version=1, defaults={"reason": "Default policy"}
        )
    return policy


@transaction.atomic
def policy_update(*, actor, reason: str, **changes: Any) -> ScoringPolicy:
    """Create the next policy version: the current values with ``changes`` applied.

    ``reason`` is required (why the weights moved is part of the record). Only the numeric policy
    fields may change; unknown names raise ``ValidationError``, and so do values the model
    validators or constraints reject (nothing is written then). Concurrent updates are serialised
    by locking the current version, so version numbers never collide. Every score is marked stale
    by the ``ScoringPolicy`` save signal and recomputed after commit.
    """
    if not reason or not reason.strip():
        raise ValidationError({"reason": "Say why the policy changes."})
    unknown = sorted(set(changes) - set(POLICY_FIELDS))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "Not a scoring policy setting."))
    policy_current()
    current = ScoringPolicy.objects.select_for_update().order_by("-version").first()
    before = snapshot(current, POLICY_FIELDS)
    new = ScoringPolicy(
        **{name: getattr(current, name) for name in POLICY_FIELDS},
        version=current.version + 1,
        reason=reason.strip(),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    for name, value in changes.items():
        setattr(new, name, value)
    new.full_clean()
    if new.weight_strategic + new.weight_breadth + new.weight_revenue <= 0:
        raise ValidationError("At least one weight must be positive.")
    new.save()
    audit_record(
        actor=actor,
        verb="policy.updated",
        obj=new,
        before=before,
        after={**snapshot(new, POLICY_FIELDS), "version": new.version, "reason": new.reason},
    )
    return new


# --- freshness -----------------------------------------------------------------------------------


def _lock_in_order(queryset) -> list[int]:
    """Lock score rows in primary-key order so that concurrent writers marking overlapping sets
    queue behind each other instead of deadlocking. No-op ordering on SQLite (one writer)."""
    return list(queryset.select_for_update().order_by("pk").values_list("pk", flat=True))


@transaction.atomic
def scores_mark_stale(
    *, request_ids: Iterable[int] | None = None, cause: str = "", create_missing: bool = False
) -> int:
    """Mark scores stale and schedule one recompute after the surrounding transaction commits.

    ``request_ids=None`` means every score (account ARR, themes and the policy move totals that
    every request shares). ``cause`` is a human sentence recorded in the score history when the
    recompute changes the total: for the named requests the latest cause wins; a global mark only
    writes it to scores that were fresh, so a burst of global changes costs one pass over the table.
    ``create_missing`` inserts stale rows for requests that have none yet (new requests); it is off
    by default because a delete cascade may be removing the request in the same transaction.
    Returns the number of rows marked. The after-commit requests coalesce into one pending task
    (``strategy.tasks``); when the broker is unreachable the rows simply stay stale until the
    periodic sweep.
    """
    cause = (cause or "")[:300]
    if request_ids is None:
        fresh = RequestScore.objects.filter(stale=False)
        _lock_in_order(fresh)
        marked = fresh.update(stale=True, stale_cause=cause)
        if create_missing:
            _create_missing_rows(None)
    else:
        ids = {pk for pk in request_ids if pk}
        if not ids:
            return 0
        rows = RequestScore.objects.filter(request_id__in=ids)
        _lock_in_order(rows)
        marked = rows.update(stale=True, stale_cause=cause)
        if create_missing and marked < len(ids):
            marked += _create_missing_rows(ids, cause=cause)
    _schedule_recompute()
    return marked


def _create_missing_rows(ids: Iterable[int] | None, *, cause: str = "") -> int:
    """Insert stale, empty score rows for requests that have none (all requests when ``ids`` is
    None). Conflicts with rows created concurrently are ignored."""
    missing = FeatureRequest.objects.filter(score__isnull=True).order_by()
    if ids is not None:
        missing = missing.filter(pk__in=list(ids))
    rows = [
        RequestScore(request_id=pk, stale=True, stale_cause=cause)
        for pk in missing.values_list("pk", flat=True)
    ]
    RequestScore.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return len(rows)


def _schedule_recompute() -> None:
    """After commit, ask for a recompute. Every change registers its own callback (so none is lost
    with a savepoint rolled back); the callbacks coalesce in ``scores_recompute_enqueue``: only the
    first sends a task while one is pending."""
    from .tasks import scores_recompute_enqueue

    transaction.on_commit(scores_recompute_enqueue, robust=True)


# --- recompute -----------------------------------------------------------------------------------

BATCH_SIZE = 10_000

# The request fields a score is computed from: read by the recompute, watched by the signals
# (strategy/signals.py) so that a change to any of them marks the score stale.
RICE_INPUT_FIELDS = ["rice_reach", "rice_impact", "rice_confidence", "rice_effort_months"]
WSJF_INPUT_FIELDS = [
    "wsjf_business_value",
    "wsjf_time_criticality",
    "wsjf_risk_reduction",
    "wsjf_job_size",
]
RANKING_INPUT_FIELDS = [*RICE_INPUT_FIELDS, *WSJF_INPUT_FIELDS]
REQUEST_SCORE_INPUTS = ["effort", "status", "merged_into_id", *RANKING_INPUT_FIELDS]
HISTORY_MIN_CHANGE = 0.01  # total points; smaller moves are noise, not history
SCORE_FIELDS = [
    "total",
    "value",
    "strategic_fit",
    "customer_breadth",
    "revenue_at_stake",
    "effort_factor",
    "revenue_exposure",
    "open_pipeline",
    "accounts_count",
    "customers_count",
    "flags",
    "flag_single_deal",
    "flag_strategic_no_demand",
    "flag_escalated",
    "explanation",
    "policy_version",
    "computed_at",
    "stale",
    "stale_cause",
    "rice",
    "wsjf",
]
_IMPORTANCE_RANK = ["nice_to_have", "important", "critical", "blocker"]
_IMPORTANCE_RANK_SQL = Case(
    *(When(importance=name, then=Value(rank)) for rank, name in enumerate(_IMPORTANCE_RANK)),
    default=Value(1),
    output_field=IntegerField(),
)


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class _Run:
    """One recompute: its fallback cause, and what a batch shares (the policy, the themes, the
    customer base totals, the accounts and deals already loaded).

    ``refresh()`` re-reads all of it at the start of every batch, after the batch's rows are
    locked: a policy, theme, account or deal change committed while a long recompute runs is then
    either seen by the next batch, or its stale mark waits for the batch to commit and lands after
    it. Either way no score is written fresh from inputs older than a committed change."""

    def __init__(self, *, cause: str):
        self.cause = cause
        self.refresh()

    def refresh(self) -> scoring.Context:
        policy = policy_current()
        themes = [
            scoring.Theme(id=pk, name=name, weight=weight, active=active)
            for pk, name, weight, active in StrategicTheme.objects.values_list(
                "pk", "name", "weight", "active"
            )
        ]
        base = Account.objects.filter(is_customer=True).aggregate(n=Count("pk"), arr=Sum("arr"))
        ctx = scoring.Context(
            params=scoring.PolicyParams.from_policy(policy),
            today=timezone.localdate(),
            themes=themes,
            customers_total=base["n"] or 0,
            arr_total=float(base["arr"] or 0),
            computed_at=timezone.now(),
        )
        self.ctx = ctx
        self.accounts: dict[int, scoring.AccountAsk] = {}
        self.deals: dict[int, tuple] = {}
        return ctx

    def load_accounts(self, ids: set[int]) -> None:
        missing = [pk for pk in ids if pk not in self.accounts]
        for chunk in _chunks(missing, BATCH_SIZE):
            for pk, name, is_customer, arr in Account.objects.filter(pk__in=chunk).values_list(
                "pk", "name", "is_customer", "arr"
            ):
                self.accounts[pk] = scoring.AccountAsk(
                    id=pk, name=name, is_customer=is_customer, arr=float(arr)
                )

    def load_deals(self, ids: set[int]) -> None:
        missing = [pk for pk in ids if pk not in self.deals]
        for chunk in _chunks(missing, BATCH_SIZE):
            for row in Deal.objects.filter(pk__in=chunk).values_list(
                "pk", "name", "account__name", "amount", "stage", "probability", "close_date"
            ):
                self.deals[row[0]] = row


def scores_recompute(
    *, request_ids: Iterable[int] | None = None, cause: str = "", batch_size: int = BATCH_SIZE
) -> int:
    """Recompute the scores of ``request_ids`` (every request when None) and return how many
    score rows were written.

    Set-wise, per batch of ``batch_size`` requests, in its own short transaction: lock the batch's
    score rows (rows another transaction is marking stale right now are skipped: that transaction
    schedules its own recompute), read the inputs with five aggregate queries, compute with
    :func:`strategy.scoring.score_request`, upsert all rows in one ``INSERT … ON CONFLICT``, and
    append a :class:`ScoreHistory` row for every total that moved, with the cause recorded when
    the score was marked stale (``cause`` when none was). Merged requests get a zero score marked
    fresh whose explanation names the survivor. Requests that no longer exist are ignored.
    Idempotent: running it twice writes the same values.
    """
    run = _Run(cause=cause)
    if request_ids is None:
        _create_missing_rows(None)
        ids = list(FeatureRequest.objects.order_by("pk").values_list("pk", flat=True))
    else:
        ids = sorted({pk for pk in request_ids if pk})
        if not ids:
            return 0
        _create_missing_rows(ids)
    chunks = list(_chunks(ids, batch_size))
    if (
        len(chunks) > 1
        and scoring_sql.available()
        and not transaction.get_connection().in_atomic_block
    ):
        return _recompute_parallel(chunks, run)
    return sum(_recompute_batch(chunk, run) for chunk in chunks)


def scores_vacuum() -> bool:
    """After a full recompute (PostgreSQL, outside a transaction): reclaim the row versions it
    left behind and refresh the planner's statistics, so reads go back to index-only scans (the
    board's lens snapshot) instead of waiting for autovacuum. Returns whether it ran."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return False
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) strategy_requestscore, strategy_scorehistory")
    return True


PARALLEL_WORKERS = 2


def _recompute_parallel(chunks: list[list[int]], run: _Run) -> int:
    """Run independent batches on ``PARALLEL_WORKERS`` database connections at once: on
    PostgreSQL each statement runs in its own server process, so batches use every core. Only
    outside a transaction (threads cannot see the caller's uncommitted rows)."""

    def work(chunk: list[int]) -> int:
        try:
            return _recompute_batch(chunk, _Run(cause=run.cause))  # one per thread
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=PARALLEL_WORKERS) as pool:
        return sum(pool.map(work, chunks))


def scores_recompute_stale(
    *, cause: str = "", batch_size: int = BATCH_SIZE, include_missing: bool = False
) -> int:
    """Recompute every score that is stale. Coalesces bursts: whatever number of changes marked a
    request stale, it is recomputed once. ``include_missing`` also scores requests that have no
    score row at all (written in bulk, without signals): the periodic sweep sets it; the
    after-commit task does not need to, since the writes that trigger it create their rows.
    Stops when nothing stale is left or when a pass makes no progress (rows locked by a writer are
    left to that writer's own recompute). Returns the number of rows written."""
    if include_missing:
        _create_missing_rows(None)
    if not RequestScore.objects.filter(stale=True).exists():
        return 0
    run = _Run(cause=cause)
    written = 0
    skipped: set[int] = set()
    while True:
        ids = list(
            RequestScore.objects.filter(stale=True)
            .exclude(request_id__in=skipped)
            .order_by("request_id")
            .values_list("request_id", flat=True)[:batch_size]
        )
        if not ids:
            return written
        done = _recompute_batch(ids, run)
        written += done
        if done < len(ids):
            skipped.update(ids)  # some rows were locked; do not spin on them
        if len(skipped) > 50 * batch_size:
            return written


def _recompute_batch(ids: list[int], run: _Run) -> int:
    own_transaction = not transaction.get_connection().in_atomic_block
    with transaction.atomic():
        locked = {
            pk: (total, computed_at, stale_cause)
            for pk, total, computed_at, stale_cause in RequestScore.objects.select_for_update(
                skip_locked=True
            )
            .filter(request_id__in=ids)
            .order_by("request_id")
            .values_list("request_id", "total", "computed_at", "stale_cause")
        }
        if not locked:
            return 0
        batch = list(locked)
        ctx = run.refresh()
        if scoring_sql.available():
            # PostgreSQL: the same maths in one statement per batch (see strategy.scoring_sql);
            # merged requests, a handful, take the Python path.
            merged = [
                scoring.RequestInputs(id=pk, effort=effort, status="merged", merged_into=into)
                for pk, effort, into in FeatureRequest.objects.filter(
                    pk__in=batch, status="merged"
                ).values_list("pk", "effort", "merged_into_id")
            ]
            results = [scoring.score_request(item, ctx) for item in merged]
            _upsert(results, ctx)
            written = scoring_sql.upsert_scores(
                batch, ctx, top_n=scoring.TOP_N, own_transaction=own_transaction
            )
        else:
            inputs = _inputs(batch, run)
            results = [scoring.score_request(inputs[pk], ctx) for pk in batch if pk in inputs]
            _upsert(results, ctx)
            written = []
        written += [
            (r.request_id, r.total, r.strategic_fit, r.customer_breadth, r.revenue_at_stake)
            for r in results
        ]
        history = []
        for request_id, total, strategic, breadth, revenue in written:
            old_total, computed_at, stale_cause = locked[request_id]
            first = computed_at is None
            if first or abs(old_total - total) >= HISTORY_MIN_CHANGE:
                cause = stale_cause or run.cause or ("First score" if first else "Recomputed")
                history.append(
                    ScoreHistory(
                        request_id=request_id,
                        total=total,
                        strategic_fit=strategic,
                        customer_breadth=breadth,
                        revenue_at_stake=revenue,
                        cause=cause[:300],
                        policy_version=ctx.params.version,
                    )
                )
        if history:
            ScoreHistory.objects.bulk_create(history, batch_size=2000)
    return len(written)


def _upsert(results: list[scoring.ScoreResult], ctx: scoring.Context) -> None:
    """Write computed scores: one ``INSERT … ON CONFLICT DO UPDATE`` per 2,000 rows."""
    if not results:
        return
    rows = [
        RequestScore(
            request_id=r.request_id,
            total=r.total,
            value=r.value,
            strategic_fit=r.strategic_fit,
            customer_breadth=r.customer_breadth,
            revenue_at_stake=r.revenue_at_stake,
            effort_factor=r.effort_factor,
            revenue_exposure=r.revenue_exposure,
            open_pipeline=round(r.open_pipeline, 2),
            accounts_count=r.accounts_count,
            customers_count=r.customers_count,
            flags=r.flags,
            flag_single_deal=scoring.FLAG_SINGLE_DEAL in r.flags,
            flag_strategic_no_demand=scoring.FLAG_STRATEGIC_NO_DEMAND in r.flags,
            flag_escalated=scoring.FLAG_ESCALATED in r.flags,
            explanation=r.explanation,
            policy_version=ctx.params.version,
            computed_at=ctx.computed_at,
            stale=False,
            stale_cause="",
            rice=r.rice,
            wsjf=r.wsjf,
        )
        for r in results
    ]
    RequestScore.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["request"],
        update_fields=SCORE_FIELDS,
        batch_size=2000,
    )


def _inputs(ids: list[int], run: _Run) -> dict[int, scoring.RequestInputs]:
    """The inputs of a batch of requests, in five queries whatever the batch size."""
    inputs: dict[int, scoring.RequestInputs] = {}
    rows = FeatureRequest.objects.filter(pk__in=ids).values_list("pk", *REQUEST_SCORE_INPUTS)
    for pk, *values in rows:
        row = dict(zip(REQUEST_SCORE_INPUTS, values, strict=True))
        impact, effort_months = row["rice_impact"], row["rice_effort_months"]
        inputs[pk] = scoring.RequestInputs(
            id=pk,
            effort=row["effort"],
            status=row["status"],
            merged_into=row["merged_into_id"],
            rice_reach=row["rice_reach"],
            rice_impact=float(impact) if impact else None,
            rice_confidence=row["rice_confidence"],
            rice_effort_months=float(effort_months) if effort_months is not None else None,
            wsjf_business_value=row["wsjf_business_value"],
            wsjf_time_criticality=row["wsjf_time_criticality"],
            wsjf_risk_reduction=row["wsjf_risk_reduction"],
            wsjf_job_size=row["wsjf_job_size"],
        )

    # Asks, grouped in SQL by (request, account, deal) with the strongest importance: the same
    # deal asked twice arrives once.
    groups = list(
        Ask.objects.filter(request_id__in=ids)
        .order_by()
        .values_list("request_id", "account_id", "deal_id")
        .annotate(rank=Max(_IMPORTANCE_RANK_SQL), asks=Count("pk"))
    )
    run.load_accounts({g[1] for g in groups})
    run.load_deals({g[2] for g in groups if g[2] is not None})
    accounts_seen: dict[int, set[int]] = defaultdict(set)
    for request_id, account_id, deal_id, rank, count in groups:
        item = inputs.get(request_id)
        if item is None:
            continue
        item.asks_count += count
        if account_id not in accounts_seen[request_id]:
            accounts_seen[request_id].add(account_id)
            account = run.accounts.get(account_id)
            if account is not None:
                item.accounts.append(account)
        if deal_id is not None:
            deal = run.deals.get(deal_id)
            if deal is not None:
                _, name, account_name, amount, stage, probability, close_date = deal
                item.deal_asks.append(
                    scoring.DealAsk(
                        deal_id=deal_id,
                        importance=_IMPORTANCE_RANK[rank],
                        amount=float(amount),
                        stage=stage,
                        probability=probability,
                        close_date=close_date,
                        name=name,
                        account=account_name,
                    )
                )

    for request_id, theme_id, strength in ThemeAlignment.objects.filter(
        request_id__in=ids, strength__gt=0
    ).values_list("request_id", "theme_id", "strength"):
        if request_id in inputs:
            inputs[request_id].alignments[theme_id] = strength

    for request_id in Escalation.objects.filter(request_id__in=ids, status="open").values_list(
        "request_id", flat=True
    ):
        if request_id in inputs:
            inputs[request_id].escalated = True
    return inputs


def score_for(*, request: FeatureRequest) -> RequestScore:
    """The score row of one request, recomputed first when it is stale or missing (used by the
    ``explain_score`` command)."""
    score = RequestScore.objects.filter(request=request).first()
    if score is None or score.stale:
        scores_recompute(request_ids=[request.pk])
        score = RequestScore.objects.get(request=request)
    return score


# --- Themes, alignments, effort and ranking inputs (product-side writes) --------------------------

THEME_FIELDS = ["name", "description", "weight", "horizon", "active"]


@transaction.atomic
def theme_create(*, actor, **fields: Any) -> StrategicTheme:
    """Create a strategic theme from ``THEME_FIELDS``; validates (unique name, weight 0-100)
    before writing and audits ``theme.created``."""
    unknown = set(fields) - set(THEME_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown theme fields: {', '.join(sorted(unknown))}.")
    theme = StrategicTheme(**fields)
    theme.name = (theme.name or "").strip()
    theme.full_clean()
    theme.save()
    audit_record(actor=actor, verb="theme.created", obj=theme, after=snapshot(theme, THEME_FIELDS))
    return theme


@transaction.atomic
def theme_update(*, actor, theme: StrategicTheme, **changes: Any) -> StrategicTheme:
    """Change a theme's fields; a change of weight or active status changes strategic fit of every
    aligned request (the score listeners recompute). No-op changes write nothing."""
    unknown = set(changes) - set(THEME_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown theme fields: {', '.join(sorted(unknown))}.")
    before = snapshot(theme, THEME_FIELDS)
    for field, value in changes.items():
        setattr(theme, field, value)
    after = snapshot(theme, THEME_FIELDS)
    if after == before:
        return theme
    theme.full_clean()
    theme.save()
    audit_record(actor=actor, verb="theme.updated", obj=theme, before=before, after=after)
    return theme


@transaction.atomic
def alignment_set(
    *, actor, request: FeatureRequest, theme: StrategicTheme, strength: int
) -> ThemeAlignment | None:
    """Set how strongly ``request`` serves ``theme`` (0 none, 1 weak, 2 medium, 3 strong).

    Strength 0 removes the alignment row (none and absent mean the same). Unchanged strength writes
    nothing. Audited on the request as ``alignment.set`` so its trail shows it. Returns the row, or
    None when removed.
    """
    try:
        strength = int(strength)
    except (TypeError, ValueError):
        raise ValidationError({"strength": "Pick none, weak, medium or strong."}) from None
    if strength not in Strength.values:
        raise ValidationError({"strength": "Pick none, weak, medium or strong."})
    current = ThemeAlignment.objects.filter(request=request, theme=theme).first()
    old = current.strength if current else 0
    if old == strength:
        return current
    if strength == 0:
        current.delete()
        row = None
    elif current is None:
        row = ThemeAlignment.objects.create(
            request=request, theme=theme, strength=strength, set_by=_user(actor)
        )
    else:
        current.strength = strength
        current.set_by = _user(actor)
        current.save(update_fields=["strength", "set_by", "updated_at"])
        row = current
    audit_record(
        actor=actor,
        verb="alignment.set",
        obj=request,
        before={"theme": theme.name, "strength": old},
        after={"theme": theme.name, "theme_id": theme.pk, "strength": strength},
    )
    return row


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def request_effort_set(
    *, actor, request: FeatureRequest, effort: int | None, expected_version: int | None = None
) -> FeatureRequest:
    """Set the effort estimate in points (None = unknown, factor 1.0).

    Conditional on ``expected_version`` (ConflictError when stale); bumps ``version``; audited
    ``request.effort_set``. Saving the request lets the score listeners recompute its total.
    """
    if effort is not None:
        try:
            effort = int(effort)
        except (TypeError, ValueError):
            raise ValidationError({"effort": "Effort is a whole number of points."}) from None
        if effort < 1 or effort > 1000:
            raise ValidationError({"effort": "Effort is between 1 and 1,000 points."})
    if effort == request.effort:
        return request
    before = snapshot(request, ["effort"])
    request_version_claim(request=request, expected_version=expected_version)
    request.effort = effort
    request.save(update_fields=["effort", "updated_at"])
    audit_record(
        actor=actor,
        verb="request.effort_set",
        obj=request,
        before=before,
        after={"effort": effort, "version": request.version},
    )
    return request


@transaction.atomic
def request_inputs_set(
    *, actor, request: FeatureRequest, expected_version: int | None = None, **fields: Any
) -> FeatureRequest:
    """Set RICE and WSJF inputs (any of ``RANKING_INPUT_FIELDS``; None or "" clears one).

    Values are validated against the published scales (model choices) before anything is written.
    Conditional on ``expected_version``; bumps ``version``; audited ``request.inputs_set`` with
    only the fields that changed. No change writes nothing.
    """
    unknown = set(fields) - set(RANKING_INPUT_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown ranking inputs: {', '.join(sorted(unknown))}.")
    before = snapshot(request, RANKING_INPUT_FIELDS)
    for name, value in fields.items():
        if value is None and name == "rice_impact":
            value = ""
        setattr(request, name, value)
    request.full_clean(exclude=[f for f in _all_fields(request) if f not in fields])
    after = snapshot(request, RANKING_INPUT_FIELDS)
    changed = [name for name in RANKING_INPUT_FIELDS if str(before[name]) != str(after[name])]
    if not changed:
        return request
    request_version_claim(request=request, expected_version=expected_version)
    request.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor=actor,
        verb="request.inputs_set",
        obj=request,
        before={name: before[name] for name in changed},
        after={**{name: after[name] for name in changed}, "version": request.version},
    )
    return request


def _all_fields(obj) -> list[str]:
    return [f.name for f in obj._meta.concrete_fields]
