"""The what-if preview predicts exactly what saving computes, and writes nothing itself."""

from __future__ import annotations

from decimal import Decimal

import pytest

from requests_app.models import AuditEvent, DealStage, Importance
from strategy import services
from strategy.models import RequestScore, ScoreHistory, ScoringPolicy, StrategicTheme
from strategy.whatif import whatif_preview
from tests.factories import (
    AccountFactory,
    AlignmentFactory,
    AskFactory,
    DealFactory,
    FeatureRequestFactory,
    ThemeFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def portfolio(product_user):
    enterprise = ThemeFactory(name="Enterprise", weight=30)
    growth = ThemeFactory(name="Growth", weight=20)
    big = AccountFactory(name="Acme", is_customer=False, arr=Decimal("0"))  # a prospect
    small = [AccountFactory(arr=Decimal("20000")) for _ in range(6)]
    deal = DealFactory(account=big, amount=Decimal("900000"), stage=DealStage.NEGOTIATION)
    one_deal = FeatureRequestFactory(title="One-deal wonder", effort=13)
    AskFactory(request=one_deal, account=big, deal=deal, importance=Importance.BLOCKER)
    broad = FeatureRequestFactory(title="Broad need", effort=3)
    for account in small:
        AskFactory(request=broad, account=account)
    AlignmentFactory(request=broad, theme=growth, strength=3)
    strategic = FeatureRequestFactory(title="Strategic bet")
    AlignmentFactory(request=strategic, theme=enterprise, strength=3)
    for i in range(4):
        filler = FeatureRequestFactory(title=f"Filler {i}", effort=5 + i)
        AskFactory(request=filler, account=small[i])
        AlignmentFactory(request=filler, theme=enterprise, strength=i % 4)
    services.scores_recompute()
    return {"enterprise": enterprise, "growth": growth}


def _totals():
    return dict(RequestScore.objects.values_list("request__title", "total"))


def test_preview_matches_the_recompute_after_saving(product_user, portfolio):
    policy = services.policy_current()
    changes = {
        "weight_strategic": 0.2,
        "weight_revenue": 0.5,
        "revenue_ref": 400_000.0,
        "effort_ref": 8.0,
    }
    theme_weights = {portfolio["enterprise"].pk: 60, portfolio["growth"].pk: 5}
    before = (
        _totals(),
        ScoringPolicy.objects.count(),
        AuditEvent.objects.count(),
        ScoreHistory.objects.count(),
    )

    preview = whatif_preview(policy=policy, changes=changes, theme_weights=theme_weights)

    assert (
        _totals(),
        ScoringPolicy.objects.count(),
        AuditEvent.objects.count(),
        ScoreHistory.objects.count(),
    ) == before
    predicted = {row.title: row.after_total for row in preview["rows"]}
    assert {row.title: row.before_total for row in preview["rows"]} == {
        t: v for t, v in before[0].items() if t in predicted
    }

    services.policy_update(actor=product_user, reason="test", **changes)
    for theme in StrategicTheme.objects.all():
        services.theme_update(actor=product_user, theme=theme, weight=theme_weights[theme.pk])
    services.scores_recompute()
    after = _totals()
    for title, total in predicted.items():
        assert total == pytest.approx(after[title], abs=0.02), title
    # Ranks in the preview are the ranks the board shows after saving.
    ranked = sorted(after, key=lambda t: -after[t])
    assert [row.title for row in preview["rows"]] == ranked[: len(preview["rows"])]


def test_unchanged_weights_move_nothing(portfolio):
    policy = services.policy_current()
    preview = whatif_preview(policy=policy, changes={}, theme_weights={})
    assert not preview["changed"] and not preview["leaving"]
    assert all(row.move == 0 for row in preview["rows"])
    assert all(
        row.before_total == pytest.approx(row.after_total, abs=0.01) for row in preview["rows"]
    )


def test_enters_and_leaves_badges(portfolio):
    policy = services.policy_current()
    preview = whatif_preview(
        policy=policy, changes={"weight_revenue": 5.0}, theme_weights={}, top=2
    )
    rows = {row.title: row for row in preview["rows"]}
    assert rows["One-deal wonder"].enters  # from the bottom to the top when revenue dominates
    assert rows["One-deal wonder"].before_rank > 2 and rows["One-deal wonder"].after_rank <= 2
    assert len(preview["leaving"]) == sum(row.enters for row in preview["rows"]) >= 1
    assert all(row.leaves and row.before_rank <= 2 for row in preview["leaving"])
    assert all(row.enters == (row.before_rank > 2) for row in preview["rows"])
