"""My requests, My deals, editing one's own request, and who may open the sales pages."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from requests_app import services
from requests_app.models import AuditEvent, FeatureRequest, RequestStatus
from requests_app.selectors import requests_for_rep
from strategy.models import RequestScore
from tests.factories import (
    AccountFactory,
    AskFactory,
    DealFactory,
    DecisionFactory,
    EscalationFactory,
    FeatureRequestFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _scored(title, total, **kw):
    request = FeatureRequestFactory(title=title, **kw)
    RequestScore.objects.update_or_create(
        request=request, defaults={"total": total, "stale": False, "computed_at": timezone.now()}
    )
    return request


def test_my_requests_lists_submitted_and_asked_with_rank_among_open(sales_user):
    _scored("Mine", 50, created_by=sales_user)
    asked = _scored("Asked", 90)
    AskFactory(request=asked, created_by=sales_user)
    _scored("Someone else's top", 95)
    _scored("Shipped higher", 99, status=RequestStatus.SHIPPED)  # closed: does not count
    unscored = FeatureRequestFactory(title="Unscored", created_by=sales_user)
    FeatureRequestFactory(title="Not mine")
    rows = {r.title: r for r in requests_for_rep(user=sales_user)}
    assert set(rows) == {"Mine", "Asked", "Unscored"}
    assert rows["Asked"].rank == 2
    assert rows["Mine"].rank == 3
    assert rows[unscored.title].rank is None


def test_my_requests_ranks_every_page_in_a_fixed_number_of_queries(
    client, sales_user, django_assert_max_num_queries
):
    totals = [90, 80, 80, 70, 60, 50, 50, 40, 30, 20]
    for i, total in enumerate(totals):
        request = _scored(f"Mine {i}", total, created_by=sales_user)
        AskFactory(request=request, created_by=sales_user)  # submitted *and* asked: listed once
    for i in range(3):
        _scored(f"Other {i}", 85 - 20 * i)  # 85, 65, 45 sit between mine
    client.force_login(sales_user)
    url = reverse("requests_app:my_requests")
    with django_assert_max_num_queries(12):
        response = client.get(url)
    rows = list(response.context["page"])
    assert len(rows) == len(totals)
    expected = {
        f"Mine {i}": 1 + sum(1 for t in [*totals, 85, 65, 45] if t > total)
        for i, total in enumerate(totals)
    }
    assert {r.title: r.rank for r in rows} == expected
    assert expected["Mine 1"] == expected["Mine 2"] == 3  # ties share a rank
    for i in range(30):
        _scored(f"More {i}", i, created_by=sales_user)
    with django_assert_max_num_queries(12):
        assert client.get(url, {"page": 2}).status_code == 200


def test_my_requests_filters_by_status_and_by_my_deal(client, sales_user):
    acme = AccountFactory(name="Acme")
    deal = DealFactory(account=acme, owner=sales_user, name="Acme renewal")
    with_deal = FeatureRequestFactory(title="With my deal", created_by=sales_user)
    AskFactory(request=with_deal, account=acme, deal=deal, created_by=sales_user)
    FeatureRequestFactory(title="Declined one", created_by=sales_user, status="declined")
    client.force_login(sales_user)
    url = reverse("requests_app:my_requests")
    body = client.get(url, {"status": "declined"}).content.decode()
    assert "Declined one" in body and "With my deal" not in body
    body = client.get(url, {"deal": deal.pk}).content.decode()
    assert "With my deal" in body and "Declined one" not in body
    foreign = DealFactory()
    body = client.get(url, {"deal": foreign.pk, "status": "bogus"}).content.decode()
    assert "With my deal" in body and "Declined one" in body  # unknown filters are ignored
    body = client.get(url, {"status": "shipped"}).content.decode()
    assert "None of your requests match these filters." in body


def test_my_requests_shows_decision_escalation_and_actions(client, sales_user, product_user):
    declined = FeatureRequestFactory(title="Declined", created_by=sales_user, status="declined")
    DecisionFactory(request=declined, decided_by=product_user, rationale="Off the 2027 themes.")
    escalated = FeatureRequestFactory(title="Escalated", created_by=sales_user, status="declined")
    EscalationFactory(request=escalated)
    FeatureRequestFactory(title="Fresh", created_by=sales_user)
    client.force_login(sales_user)
    body = client.get(reverse("requests_app:my_requests")).content.decode()
    assert "Off the 2027 themes." in body and "Priya" in body
    assert reverse("requests_app:request_escalate", args=[declined.pk]) in body
    assert reverse("requests_app:request_escalate", args=[escalated.pk]) not in body
    assert "Escalated · due" in body
    fresh = FeatureRequest.objects.get(title="Fresh")
    assert reverse("requests_app:request_edit", args=[fresh.pk]) in body
    assert reverse("requests_app:request_edit", args=[declined.pk]) not in body


def test_my_pages_take_a_fixed_number_of_queries(client, sales_user, django_assert_max_num_queries):
    made = []

    def add_rows(n):
        for _ in range(n):
            made.append(len(made))
            request = _scored(f"Row {len(made)}", len(made), created_by=sales_user)
            deal = DealFactory(owner=sales_user)
            AskFactory(request=request, account=deal.account, deal=deal, created_by=sales_user)
            DecisionFactory(request=request)
            EscalationFactory(request=request)

    client.force_login(sales_user)
    add_rows(2)
    with django_assert_max_num_queries(13) as small:
        client.get(reverse("requests_app:my_requests"))
    add_rows(10)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(reverse("requests_app:my_requests")).status_code == 200
    with django_assert_max_num_queries(9) as small:
        client.get(reverse("requests_app:my_deals"))
    add_rows(5)
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = client.get(reverse("requests_app:my_deals")).content.decode()
    assert "Row 17" in body


def test_my_deals_shows_requests_and_decisions(client, sales_user):
    deal = DealFactory(owner=sales_user, name="Acme renewal")
    DealFactory(owner=sales_user, name="Lost", stage="closed_lost")
    request = FeatureRequestFactory(title="PDF layout", status="declined")
    AskFactory(request=request, account=deal.account, deal=deal)
    DecisionFactory(request=request, rationale="Serves one customer.")
    client.force_login(sales_user)
    body = client.get(reverse("requests_app:my_deals")).content.decode()
    assert "Acme renewal" in body and "PDF layout" in body and "Serves one customer." in body
    assert "Lost" not in body


def test_rep_edits_own_new_request_but_not_status_or_after_pickup(client, sales_user):
    request = FeatureRequestFactory(title="Old title", created_by=sales_user)
    client.force_login(sales_user)
    url = reverse("requests_app:request_edit", args=[request.pk])
    response = client.post(
        url,
        {
            "title": "New title",
            "problem": "Clearer problem.",
            "product_area": "reporting",
            "status": "accepted",  # ignored: not a field of the form
        },
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.title, request.status, request.version) == ("New title", "new", 2)
    assert AuditEvent.objects.get(verb="request.updated").before["title"] == "Old title"
    body = client.post(url, {"title": "", "problem": "x", "product_area": "reporting"})
    assert "Give the request a short title." in body.content.decode()
    request.status = RequestStatus.UNDER_REVIEW
    request.save()
    response = client.post(url, {"title": "Late", "problem": "x", "product_area": "reporting"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.title == "New title"


def test_request_update_service_rules(sales_user):
    request = FeatureRequestFactory(created_by=sales_user)
    with pytest.raises(services.ValidationError):
        services.request_update(actor=sales_user, request=request, status="accepted")
    with pytest.raises(services.PermissionDenied):
        services.request_update(actor=UserFactory(), request=request, title="x")
    FeatureRequest.objects.filter(pk=request.pk).update(status="accepted")  # product moved on
    with pytest.raises(services.ConflictError):
        services.request_update(actor=sales_user, request=request, title="Too late")
    request.refresh_from_db()
    assert request.title != "Too late"


SALES_ONLY = {"sales", "admin"}


@pytest.mark.parametrize(
    ("name", "needs_request"),
    [
        ("requests_app:request_suggestions", False),
        ("requests_app:account_options", False),
        ("requests_app:deal_options", False),
        ("requests_app:request_edit", True),
    ],
)
def test_sales_pages_role_matrix(client, users, name, needs_request):
    request = FeatureRequestFactory(created_by=users["sales"])
    url = reverse(name, args=[request.pk]) if needs_request else reverse(name)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    for role, user in users.items():
        client.force_login(user)
        expected = 200 if role in SALES_ONLY else 403
        assert client.get(url).status_code == expected, f"{role} on {url}"


def test_another_rep_cannot_edit_my_request(client, users):
    request = FeatureRequestFactory(created_by=users["sales"])
    client.force_login(UserFactory(username="rep2", roles=["Sales"]))
    url = reverse("requests_app:request_edit", args=[request.pk])
    assert client.get(url).status_code == 403
    assert (
        client.post(url, {"title": "x", "problem": "y", "product_area": "mobile"}).status_code
        == 403
    )
