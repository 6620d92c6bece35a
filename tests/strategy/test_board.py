"""The triage board: ordering, filters, lenses, explanation, export, bulk changes, queries."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from requests_app.models import (
    DealStage,
    Decision,
    FeatureRequest,
    Notification,
    RequestStatus,
    Segment,
)
from strategy.models import RequestScore
from strategy.selectors import BoardFilters, board_page, board_rows, quarter_bounds
from tests.factories import (
    AccountFactory,
    AlignmentFactory,
    AskFactory,
    DealFactory,
    FeatureRequestFactory,
    ThemeFactory,
)

from .board_helpers import EXPLANATION, scored

pytestmark = pytest.mark.django_db


def titles(filters=None):
    return [r.title for r in board_rows(filters or BoardFilters())]


def test_default_order_is_total_then_unscored_last_and_closed_hidden():
    scored("Middle", total=50)
    scored("Top", total=80)
    scored("Low", total=10)
    FeatureRequestFactory(title="Unscored")
    scored("Shipped", total=99, status=RequestStatus.SHIPPED)
    scored("Merged", total=99, status=RequestStatus.MERGED)
    assert titles() == ["Top", "Middle", "Low", "Unscored"]
    assert "Shipped" in titles(BoardFilters(status="all"))
    assert titles(BoardFilters(status="shipped")) == ["Shipped"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("strategic_fit", ["A", "B", "C"]),
        ("customer_breadth", ["B", "C", "A"]),
        ("revenue_at_stake", ["C", "A", "B"]),
        ("total", ["C", "B", "A"]),
    ],
)
def test_sort_by_any_component(sort, expected):
    scored("A", total=10, fit=90, breadth=5, revenue=50)
    scored("B", total=20, fit=50, breadth=90, revenue=5)
    scored("C", total=30, fit=10, breadth=50, revenue=90)
    assert titles(BoardFilters(sort=sort)) == expected


def test_rice_and_wsjf_sorts_put_missing_inputs_last():
    scored("No inputs", total=90)
    scored(
        "RICE high",
        total=10,
        accounts=10,
        rice_impact="2",
        rice_confidence=100,
        rice_effort_months=1,
    )  # 10 · 2 · 1 / 1 = 20
    scored(
        "RICE low",
        total=20,
        rice_reach=4,
        rice_impact="1",
        rice_confidence=50,
        rice_effort_months=2,
    )  # 4 · 1 · 0.5 / 2 = 1
    assert titles(BoardFilters(sort="rice")) == ["RICE high", "RICE low", "No inputs"]
    rows = {r.title: r for r in board_rows(BoardFilters(sort="rice"))}
    assert rows["RICE high"].rice == pytest.approx(20)
    assert rows["RICE low"].rice == pytest.approx(1)
    scored(
        "WSJF",
        total=5,
        wsjf_business_value=8,
        wsjf_time_criticality=5,
        wsjf_risk_reduction=3,
        wsjf_job_size=2,
    )
    first = board_rows(BoardFilters(sort="wsjf"))[0]
    assert (first.title, first.wsjf) == ("WSJF", pytest.approx(8))


def test_lens_ranks_are_window_ranks_over_the_filtered_set():
    # Product lens = fit + breadth; sales lens = revenue.
    scored("Strategic", total=60, fit=90, breadth=80, revenue=5, product_area="security")
    scored("Deal", total=40, fit=5, breadth=5, revenue=95, product_area="security")
    scored("Both", total=70, fit=60, breadth=60, revenue=60, product_area="billing")
    page = board_page(BoardFilters())
    ranks = {r.title: (r.product_rank, r.sales_rank, r.lens_gap) for r in page.object_list}
    assert ranks == {"Both": (2, 2, 0), "Strategic": (1, 3, 2), "Deal": (3, 1, -2)}
    page = board_page(BoardFilters(product_area="security"))
    ranks = {r.title: (r.product_rank, r.sales_rank) for r in page.object_list}
    assert ranks == {"Strategic": (1, 2), "Deal": (2, 1)}


def test_filters_theme_area_segment_flag_deals_and_search():
    theme = ThemeFactory(name="Enterprise")
    aligned = scored("SAML single sign-on", total=70, product_area="security")
    AlignmentFactory(request=aligned, theme=theme, strength=3)
    weak = scored("Audit log", total=60)
    AlignmentFactory(request=weak, theme=theme, strength=0)
    enterprise = scored("Custom PDF invoice layout", total=40, single_deal=True)
    AskFactory(request=enterprise, account=AccountFactory(segment=Segment.ENTERPRISE))
    today = timezone.localdate()
    start, end = quarter_bounds(today)
    closing = scored("Bulk export", total=30)
    AskFactory(request=closing, deal=DealFactory(close_date=end))
    later = scored("Dark mode", total=20)
    AskFactory(request=later, deal=DealFactory(close_date=end + dt.timedelta(days=40)))
    lost = scored("Fax integration", total=10)
    AskFactory(request=lost, deal=DealFactory(close_date=end, stage=DealStage.CLOSED_LOST))
    stale = scored("Stale one", total=5, stale=True)
    # Adding asks and alignments above marked those scores stale; they were recomputed since.
    RequestScore.objects.exclude(request=stale).update(stale=False)

    assert titles(BoardFilters(theme=theme.pk)) == ["SAML single sign-on"]
    assert titles(BoardFilters(product_area="security")) == ["SAML single sign-on"]
    assert titles(BoardFilters(segment="enterprise")) == ["Custom PDF invoice layout"]
    assert titles(BoardFilters(flag="single_deal")) == ["Custom PDF invoice layout"]
    assert titles(BoardFilters(flag="stale")) == ["Stale one"]
    assert titles(BoardFilters(open_deals=True)) == ["Bulk export", "Dark mode"]
    assert titles(BoardFilters(closing_this_quarter=True)) == ["Bulk export"]
    assert titles(BoardFilters(q="invoice PDF")) == ["Custom PDF invoice layout"]
    assert titles(BoardFilters(q="nothing-matches")) == []


def test_quarter_bounds():
    assert quarter_bounds(dt.date(2026, 11, 27)) == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert quarter_bounds(dt.date(2026, 2, 3)) == (dt.date(2026, 1, 1), dt.date(2026, 3, 31))


def test_board_page_shows_rows_badges_money_and_stale(client, product_user):
    scored("Custom PDF invoice layout", total=41, single_deal=True, pipeline=1_200_000, accounts=1)
    scored("Fresh", total=30, stale=True)
    client.force_login(product_user)
    body = client.get(reverse("strategy:board")).content.decode()
    assert "Custom PDF invoice layout" in body
    assert "single deal" in body
    assert "$1.2M" in body
    assert "updating" in body
    assert "P #" in body and "S #" in body
    body = client.get(reverse("strategy:board"), {"q": "zzz"}).content.decode()
    assert "No request matches these filters" in body


def test_board_rows_escape_text_and_show_flag_reasons_and_selection(client, product_user):
    hostile = scored(
        '<script>alert("x")</script> & co',
        total=80,
        single_deal=True,
        explanation={"flag_reasons": {"single_deal": 'Acme "renewal" supplies 100%.'}},
    )
    plain = scored("No reason stored", total=70, single_deal=True)
    unscored = FeatureRequestFactory(title="Waiting")
    RequestScore.objects.filter(request=unscored).delete()
    client.force_login(product_user)
    response = client.post(reverse("strategy:board_bulk"), {"ids": [hostile.pk]})
    body = response.content.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in body
    assert 'title="Acme &quot;renewal&quot; supplies 100%."' in body
    assert 'title="One deal supplies most of the revenue at stake">single deal' in body
    assert f'name="ids" value="{hostile.pk}" form="bulk" aria-label="Select ' in body
    assert f'value="{hostile.pk}" form="bulk" aria-label="Select &lt;script' in body
    checked = body.split(f'value="{hostile.pk}" form="bulk"', 1)[1].split(">", 1)[0]
    assert checked.endswith(" checked")  # kept selected when the bulk form comes back
    assert f'value="{plain.pk}" form="bulk" aria-label="Select No reason stored">' in body
    assert f'id="why-{unscored.pk}" class="why-row" hidden' in body
    assert "Not scored yet" in body


def test_bad_filter_values_do_not_break_the_board(client, product_user):
    scored("Anything", total=10)
    client.force_login(product_user)
    response = client.get(
        reverse("strategy:board"),
        {"theme": "abc", "status": "nope", "sort": "drop table", "page": "x", "flag": "?"},
    )
    assert response.status_code == 200
    assert "Anything" in response.content.decode()


def test_explanation_fragment_names_deals_accounts_and_themes(client, product_user):
    request = scored("Custom PDF invoice layout", total=41, explanation=EXPLANATION)
    client.force_login(product_user)
    url = reverse("strategy:request_why", args=[request.pk])
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.startswith(f'<tr id="why-{request.pk}"')
    for text in (
        "Acme renewal",
        "$1,200,000",
        "Acme Corp",
        "Enterprise readiness",
        "1 of 412 customers",
        "Acme renewal supplies 100% of the revenue at stake.",
        "Policy v3",
        "closes Dec 15, 2026",
        "computed Nov 27, 2026",
    ):
        assert text in fragment, text
    page = client.get(url).content.decode()  # without JavaScript: a page of its own
    assert "<html" in page and "Acme renewal" in page


def test_explanation_of_unscored_request_says_so(client, product_user):
    request = FeatureRequestFactory()
    client.force_login(product_user)
    body = client.get(reverse("strategy:request_why", args=[request.pk])).content.decode()
    assert "Not scored yet" in body


def test_csv_export_follows_the_filters(client, product_user):
    scored("Alpha, with comma", total=80, product_area="security", pipeline=250_000)
    scored("Beta", total=60, product_area="billing")
    client.force_login(product_user)
    response = client.get(reverse("strategy:board_export"), {"product_area": "security"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["rank", "id", "title"]
    assert len(rows) == 2
    assert rows[1][2] == "Alpha, with comma"
    assert rows[1][5] == "80" and rows[1][10] == "250000.00"


def test_bulk_status_change_with_one_rationale(client, product_user, sales_user):
    a = scored("A", total=10, created_by=sales_user)
    b = scored("B", total=20)
    merged = scored("C", total=5, status=RequestStatus.MERGED)
    client.force_login(product_user)
    response = client.post(
        reverse("strategy:board_bulk"),
        {
            "ids": [a.pk, b.pk, merged.pk],
            "status": "declined",
            "rationale": "Out of scope for 2027.",
        },
    )
    assert response.status_code == 302
    statuses = dict(FeatureRequest.objects.values_list("title", "status"))
    assert statuses == {"A": "declined", "B": "declined", "C": "merged"}
    assert Decision.objects.filter(rationale="Out of scope for 2027.").count() == 2
    assert Notification.objects.filter(recipient=sales_user, verb="decision").exists()
    page = client.get(response["Location"]).content.decode()
    assert "Moved 2 request(s) to Declined" in page and "Not changed: #" in page


def test_bulk_without_rationale_shows_error_and_keeps_selection(client, product_user):
    a = scored("A", total=10)
    client.force_login(product_user)
    response = client.post(
        reverse("strategy:board_bulk"), {"ids": [a.pk], "status": "under_review", "rationale": ""}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Explain the change: the requesters will read it." in body
    assert f'value="{a.pk}" form="bulk" aria-label="Select A" checked' in body
    assert FeatureRequest.objects.get(pk=a.pk).status == RequestStatus.NEW


def _make_board(n: int) -> None:
    creator = FeatureRequestFactory().created_by
    requests = FeatureRequest.objects.bulk_create(
        FeatureRequest(title=f"R{i}", problem="p", product_area="reporting", created_by=creator)
        for i in range(n)
    )
    RequestScore.objects.bulk_create(
        RequestScore(request=r, total=i % 97, strategic_fit=i % 89, stale=False)
        for i, r in enumerate(requests)
    )


@pytest.mark.parametrize("n", [10, 1000])
def test_board_query_count_does_not_grow(client, product_user, n, django_assert_max_num_queries):
    _make_board(n)
    ThemeFactory.create_batch(3)
    client.force_login(product_user)
    url = reverse("strategy:board")
    client.get(url)  # warm the session
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"sort": "total", "open_deals": "", "q": "R"})
    assert response.status_code == 200
    assert response.content.decode().count('class="why-row"') == min(n + 1, 50)
    # session, user, roles, unread count, theme filter options, page count, rows
    assert len(queries) <= 9, [q["sql"][:120] for q in queries]
    theme = ThemeFactory()
    with django_assert_max_num_queries(9):
        client.get(url, {"theme": theme.pk, "segment": "smb", "page": 2})


def test_pages_continue_from_scored_into_unscored_requests(monkeypatch):
    monkeypatch.setattr("strategy.selectors.BOARD_PAGE_SIZE", 3)
    for i in range(4):
        scored(f"S{i}", total=90 - i, revenue=i * 10)
    for i in range(3):
        FeatureRequestFactory(title=f"U{i}")
    pages = [board_page(BoardFilters(), n) for n in (1, 2, 3)]
    assert [[r.title for r in p.object_list] for p in pages] == [
        ["S0", "S1", "S2"],
        ["S3", "U2", "U1"],
        ["U0"],
    ]
    assert pages[0].paginator.count == 7
    # Ranks are over the whole filtered set: unscored requests count as 0 on both lenses.
    ranks = {r.title: (r.product_rank, r.sales_rank) for p in pages for r in p.object_list}
    assert ranks["S3"][1] == 1 and ranks["S0"][1] == 4
    assert ranks["U0"] == ranks["U2"] == (5, 4)  # tied with S0, whose revenue is 0 too
    newest = board_page(BoardFilters(sort="newest"), 1)
    assert [r.title for r in newest.object_list] == ["U2", "U1", "U0"]


def test_lens_ranks_match_a_brute_force_count_with_ties_and_filters():
    import random

    rng = random.Random(3)
    rows = []
    for i in range(120):
        fit, breadth, revenue = (rng.choice([0, 12.5, 40, 40, 77.25, 100]) for _ in range(3))
        area = "security" if i % 3 else "billing"
        status = RequestStatus.SHIPPED if i % 17 == 0 else RequestStatus.NEW
        rows.append(
            scored(
                f"R{i}",
                total=rng.random() * 100,
                fit=fit,
                breadth=breadth,
                revenue=revenue,
                product_area=area,
                status=status,
            )
        )
    for i in range(3):
        FeatureRequestFactory(title=f"U{i}", product_area="security")
    for filters in (BoardFilters(), BoardFilters(product_area="security"), BoardFilters("all")):
        members = list(board_rows(filters))
        lens = {
            r.pk: (
                (r.score.strategic_fit + r.score.customer_breadth, r.score.revenue_at_stake)
                if hasattr(r, "score")
                else (0.0, 0.0)
            )
            for r in members
        }
        expected = {
            pk: (
                1 + sum(1 for q, _ in lens.values() if q > p),
                1 + sum(1 for _, t in lens.values() if t > s),
            )
            for pk, (p, s) in lens.items()
        }
        seen = {}
        for number in range(1, 5):
            page = board_page(filters, number)
            seen.update({r.pk: (r.product_rank, r.sales_rank) for r in page.object_list})
        assert seen == expected
