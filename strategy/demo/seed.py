"""Builds the demo company: users per role, CRM accounts and deals, themes and requests.

Idempotent: every object is found by a natural key (username, external id, name, title) and only
created when missing, so running it again changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import random
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from requests_app import services as request_services
from requests_app.models import (
    DECISION_STATUS,
    Account,
    Deal,
    DealStage,
    Decision,
    DecisionKind,
    Escalation,
    FeatureRequest,
    Importance,
    RequestStatus,
    Segment,
)
from triage.roles import EXECUTIVE, PRODUCT, SALES

from ..models import RequestScore, StrategicTheme, ThemeAlignment
from ..services import scores_recompute
from .catalog import QUOTES, REQUESTS, THEMES

DATA_DIR = Path(__file__).resolve().parent
DEMO_PASSWORD = "demo"  # noqa: S105 - documented demo credentials, created only by seed_demo
DEMO_USERS = [
    # username, first, last, role, is_superuser
    ("sales", "Dana", "Brooks", SALES, False),
    ("product", "Priya", "Natarajan", PRODUCT, False),
    ("exec", "Elena", "Marsh", EXECUTIVE, False),
    ("admin", "Alex", "Admin", None, True),
]
# The demo sales rep takes over this agent's book of deals.
DEMO_REP_AGENT = "Darcel Schlecht"
PROSPECTS = [
    "Northwind Analytics",
    "Brightline Health",
    "Kestrel Logistics",
    "Harbor & Pine Bank",
    "Solace Insurance",
    "Quarry Labs",
    "Meridian Retail Group",
    "Tallgrass Energy",
    "Vantage Public Schools",
    "Ostrava Motors",
    "Lumen Biotech",
    "Cobalt Freight",
]


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def _segment(employees: int) -> str:
    if employees < 1000:
        return Segment.SMB
    if employees <= 5000:
        return Segment.MID_MARKET
    return Segment.ENTERPRISE


def _read(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def seed_users() -> dict[str, object]:
    User = get_user_model()
    users = {}
    for username, first, last, role, is_superuser in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@demo.triage.local",
                "is_superuser": is_superuser,
                "is_staff": is_superuser,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        if role:
            user.groups.add(Group.objects.get(name=role))
        users[username] = user
    sales_group = Group.objects.get(name=SALES)
    for row in _read("sales_teams.csv"):
        agent = row["sales_agent"]
        if agent == DEMO_REP_AGENT:
            users[agent] = users["sales"]
            continue
        first, _, last = agent.partition(" ")
        username = agent.lower().replace(" ", ".")
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@demo.triage.local",
            },
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(sales_group)
        users[agent] = user
    return users


def seed_accounts() -> dict[str, Account]:
    won = defaultdict(Decimal)
    for row in _read("sales_pipeline.csv"):
        if row["deal_stage"] == "Won" and row["account"]:
            won[row["account"]] += Decimal(row["close_value"] or 0)
    existing = {a.external_id: a for a in Account.objects.filter(external_id__startswith="maven:")}
    existing |= {
        a.external_id: a for a in Account.objects.filter(external_id__startswith="demo-prospect:")
    }
    new = []
    for row in _read("accounts.csv"):
        key = f"maven:{row['account']}"
        if key not in existing:
            new.append(
                Account(
                    name=row["account"],
                    external_id=key,
                    sector=row["sector"],
                    employees=int(row["employees"]),
                    segment=_segment(int(row["employees"])),
                    is_customer=won[row["account"]] > 0,
                    arr=won[row["account"]],
                )
            )
    for index, name in enumerate(PROSPECTS):
        key = f"demo-prospect:{index + 1}"
        if key not in existing:
            employees = 300 + _digest(name) % 9000
            new.append(
                Account(
                    name=name,
                    external_id=key,
                    employees=employees,
                    segment=_segment(employees),
                    is_customer=False,
                )
            )
    Account.objects.bulk_create(new)
    return {
        a.name: a for a in Account.objects.filter(external_id__regex=r"^(maven|demo-prospect):")
    }


def seed_deals(accounts: dict[str, Account], users: dict[str, object], today: dt.date) -> None:
    prices = {
        row["product"].replace(" ", ""): Decimal(row["sales_price"])
        for row in _read("products.csv")
    }
    prospects = [accounts[name] for name in PROSPECTS]
    existing = set(
        Deal.objects.filter(external_id__isnull=False).values_list("external_id", flat=True)
    )
    engaging_stages = [DealStage.QUALIFICATION, DealStage.PROPOSAL, DealStage.NEGOTIATION]
    new, orphan = [], 0
    for row in _read("sales_pipeline.csv"):
        if row["deal_stage"] not in ("Engaging", "Prospecting"):
            continue
        opportunity = row["opportunity_id"]
        if opportunity in existing:
            continue
        seed = _digest(opportunity)
        if row["account"]:
            account = accounts[row["account"]]
        else:
            account = prospects[orphan % len(prospects)]
            orphan += 1
        stage = (
            DealStage.PROSPECTING
            if row["deal_stage"] == "Prospecting"
            else engaging_stages[seed % len(engaging_stages)]
        )
        seats = 5 + seed % 60
        amount = prices.get(row["product"].replace(" ", ""), Decimal(1000)) * seats
        new.append(
            Deal(
                account=account,
                name=f"{account.name} · {row['product']}",
                amount=amount,
                stage=stage,
                probability=request_services.default_probability(stage),
                close_date=today + dt.timedelta(days=5 + seed % 450),
                owner=users.get(row["sales_agent"]),
                external_id=opportunity,
            )
        )
    Deal.objects.bulk_create(new)


def seed_themes() -> dict[str, StrategicTheme]:
    themes = {}
    for key, name, description, weight, horizon in THEMES:
        theme, _ = StrategicTheme.objects.get_or_create(
            name=name,
            defaults={
                "description": description,
                "weight": weight,
                "horizon": horizon,
                "active": key != "legacy",
            },
        )
        themes[key] = theme
    return themes


def _pick_importance(rng: random.Random) -> str:
    return rng.choices(
        [Importance.NICE_TO_HAVE, Importance.IMPORTANT, Importance.CRITICAL, Importance.BLOCKER],
        weights=[3, 5, 2, 1],
    )[0]


def seed_requests(users: dict[str, object], themes: dict[str, StrategicTheme]) -> int:
    """Create the catalogue's requests with their asks, alignments, efforts and decisions."""
    rng = random.Random(20261127)  # noqa: S311 - deterministic demo data, not security
    existing = set(FeatureRequest.objects.values_list("title", flat=True))
    customers = list(Account.objects.filter(is_customer=True, external_id__startswith="maven:"))
    prospects = list(Account.objects.filter(external_id__startswith="demo-prospect:"))
    open_deals = defaultdict(list)
    for deal in Deal.objects.open().filter(external_id__isnull=False).order_by("external_id"):
        open_deals[deal.account_id].append(deal)
    reps = [u for key, u in users.items() if key not in ("product", "exec", "admin")]
    created = 0
    for index, (title, area, problem, outcome, alignments, pattern) in enumerate(REQUESTS):
        if title in existing:
            continue
        rep = users["sales"] if index % 3 == 0 else reps[index % len(reps)]
        asks = _asks_for(pattern, rng, customers, prospects, open_deals)
        first_account, first_deal, first_importance = asks[0] if asks else (customers[0], None, "")
        request = request_services.request_submit(
            actor=rep,
            title=title,
            problem=problem,
            desired_outcome=outcome,
            product_area=area,
            account=first_account,
            deal=first_deal,
            importance=first_importance or Importance.NICE_TO_HAVE,
            note=rng.choice(QUOTES),
        )
        if not asks:  # product's own idea: nobody has asked yet
            request.asks.all().delete()
        for account, deal, importance in asks[1:]:
            request_services.ask_add(
                actor=reps[_digest(account.name) % len(reps)],
                request=request,
                account=account,
                deal=deal,
                importance=importance,
                note=rng.choice(QUOTES) if rng.random() < 0.4 else "",
            )
        ThemeAlignment.objects.bulk_create(
            ThemeAlignment(
                request=request, theme=themes[key], strength=strength, set_by=users["product"]
            )
            for key, strength in alignments.items()
        )
        request.effort = rng.choice([2, 3, 5, 8, 8, 13, 20])
        request.status = RequestStatus.UNDER_REVIEW if index % 4 else RequestStatus.NEW
        request.save(update_fields=["effort", "status"])
        created += 1
    _seed_decisions(users)
    return created


def _asks_for(pattern, rng, customers, prospects, open_deals):
    if pattern == "none":
        return []
    if pattern == "single":
        # One account, its biggest open deal pushed to negotiation: the classic one-deal request.
        candidates = [a for a in customers if open_deals.get(a.pk)]
        account = rng.choice(candidates)
        deal = max(open_deals[account.pk], key=lambda d: d.amount)
        if deal.stage != DealStage.NEGOTIATION:
            Deal.objects.filter(pk=deal.pk).update(
                stage=DealStage.NEGOTIATION, probability=75, amount=deal.amount * 4
            )
            deal.refresh_from_db()
        return [(account, deal, Importance.BLOCKER)]
    count = rng.randint(9, 24) if pattern == "broad" else rng.randint(2, 6)
    accounts = rng.sample(customers, count)
    if rng.random() < 0.5:
        accounts.append(rng.choice(prospects))
    asks = []
    for account in accounts:
        deals = open_deals.get(account.pk) or []
        deal = rng.choice(deals) if deals and rng.random() < 0.45 else None
        asks.append((account, deal, _pick_importance(rng)))
    return asks


DEMO_DECISIONS = [
    (
        "Bulk export to CSV",
        DecisionKind.ACCEPT,
        "2027-Q1",
        "Asked by a wide slice of the base and cheap to build; it removes a monthly chore.",
    ),
    (
        "SAML single sign-on",
        DecisionKind.ACCEPT,
        "2027-Q1",
        "Core to enterprise readiness and blocking security reviews across many accounts.",
    ),
    (
        "Custom PDF invoice layout",
        DecisionKind.DECLINE,
        "",
        "Serves one customer and is off the 2027 themes; invoice templates would cost a quarter.",
    ),
    (
        "Dark mode",
        DecisionKind.DEFER,
        "",
        "Popular but low impact; revisit after the design system refresh.",
    ),
    (
        "Keyboard shortcuts",
        DecisionKind.ALREADY_POSSIBLE,
        "",
        "Press '?' anywhere to see the shortcuts that exist today; most common actions are covered.",
    ),
]


def _seed_decisions(users) -> None:
    product = users["product"]
    for title, kind, quarter, rationale in DEMO_DECISIONS:
        request = FeatureRequest.objects.filter(title=title).first()
        if request is None or request.decisions.exists():
            continue
        Decision.objects.create(
            request=request,
            kind=kind,
            rationale=rationale,
            decided_by=product,
            target_quarter=quarter,
        )
        request.status = DECISION_STATUS[kind]
        request.save(update_fields=["status"])
    declined = FeatureRequest.objects.filter(title="Custom PDF invoice layout").first()
    if declined and not declined.escalations.exists():
        ask = declined.asks.select_related("deal").first()
        escalation = Escalation.objects.create(
            request=declined,
            contested_decision=declined.decisions.first(),
            raised_by=users["sales"],
            business_case="Without the invoice layout the customer's finance team will not approve "
            "the renewal; the deal closes this quarter.",
            outcome_requested="Build the layout by the end of Q1.",
            due_at=timezone.now() - dt.timedelta(days=2),
        )
        if ask and ask.deal:
            escalation.deals.add(ask.deal)


@transaction.atomic
def seed_demo(*, today: dt.date | None = None) -> dict[str, int]:
    """Create whatever part of the demo company is missing; return what exists afterwards."""
    today = today or timezone.localdate()
    users = seed_users()
    accounts = seed_accounts()
    seed_deals(accounts, users, today)
    themes = seed_themes()
    created = seed_requests(users, themes)
    # Score everything now, so the board shows ranked, explained requests straight away.
    scores_recompute(cause="Demo data")
    return {
        "users": get_user_model().objects.count(),
        "accounts": Account.objects.count(),
        "deals": Deal.objects.count(),
        "themes": StrategicTheme.objects.count(),
        "requests": FeatureRequest.objects.count(),
        "requests_created": created,
        "scores_fresh": RequestScore.objects.filter(stale=False).count(),
    }
