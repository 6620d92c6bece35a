"""escalation_resolve: what each outcome does to the request, the record it leaves, who hears."""

from __future__ import annotations

import threading
import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from requests_app import services
from requests_app.models import (
    AuditEvent,
    Decision,
    DecisionKind,
    Escalation,
    EscalationOutcome,
    EscalationStatus,
    FeatureRequest,
    Notification,
    RequestStatus,
)
from tests.factories import (
    AccountFactory,
    AskFactory,
    DealFactory,
    DecisionFactory,
    EscalationFactory,
    FeatureRequestFactory,
    UserFactory,
)
from triage.roles import EXECUTIVE

pytestmark = pytest.mark.django_db


@pytest.fixture
def contested(sales_user, product_user):
    """A declined request with a second requester, a product decision and an open escalation."""
    other_rep = UserFactory(username="rep2")
    request = FeatureRequestFactory(created_by=sales_user, status=RequestStatus.DECLINED)
    account = AccountFactory(name="Acme")
    deal = DealFactory(account=account, amount=1_200_000)
    AskFactory(request=request, account=account, deal=deal, created_by=sales_user)
    AskFactory(request=request, created_by=other_rep)
    decision = DecisionFactory(request=request, kind=DecisionKind.DECLINE, decided_by=product_user)
    escalation = EscalationFactory(
        request=request, raised_by=sales_user, contested_decision=decision
    )
    escalation.deals.add(deal)
    return {"request": request, "escalation": escalation, "decision": decision, "rep2": other_rep}


def test_overturn_accepts_the_request_for_the_quarter(exec_user, contested):
    request = contested["request"]
    version = request.version
    result = services.escalation_resolve(
        actor=exec_user,
        escalation=contested["escalation"],
        outcome=EscalationOutcome.OVERTURN,
        rationale="  The renewal is worth it; build it next quarter.  ",
        target_quarter="2027-q1",
    )
    assert result.status == EscalationStatus.RESOLVED
    assert result.outcome == EscalationOutcome.OVERTURN
    assert result.resolved_by == exec_user and result.resolved_at is not None
    assert result.target_quarter == "2027-Q1"
    assert result.resolution_rationale == "The renewal is worth it; build it next quarter."
    request.refresh_from_db()
    assert request.status == RequestStatus.ACCEPTED
    assert request.version == version + 1
    decision = request.decisions.first()
    assert decision.kind == DecisionKind.ACCEPT
    assert decision.decided_by == exec_user
    assert decision.escalation == result
    assert decision.target_quarter == "2027-Q1"
    assert decision.rationale == "The renewal is worth it; build it next quarter."
    verbs = set(AuditEvent.objects.values_list("verb", flat=True))
    assert {"escalation.resolved", "decision.recorded", "request.status_changed"} <= verbs
    event = AuditEvent.objects.get(verb="escalation.resolved")
    assert event.actor == exec_user
    assert event.before["status"] == "open" and event.after["status"] == "resolved"
    status_event = AuditEvent.objects.get(verb="request.status_changed")
    assert status_event.before == {"status": "declined"}
    assert status_event.after["status"] == "accepted"


def test_uphold_keeps_the_status_and_records_the_executive_decision(exec_user, contested):
    request = contested["request"]
    services.escalation_resolve(
        actor=exec_user,
        escalation=contested["escalation"],
        outcome=EscalationOutcome.UPHOLD,
        rationale="Product is right: one customer, off strategy.",
        target_quarter="2027-Q2",  # ignored: nothing is accepted
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.DECLINED
    latest = request.decisions.first()
    assert latest.kind == DecisionKind.DECLINE
    assert latest.decided_by == exec_user
    assert latest.target_quarter == ""
    escalation = Escalation.objects.get()
    assert escalation.outcome == EscalationOutcome.UPHOLD and escalation.target_quarter == ""
    assert not AuditEvent.objects.filter(verb="request.status_changed").exists()


def test_compromise_moves_to_the_chosen_status_with_terms(exec_user, contested):
    request = contested["request"]
    services.escalation_resolve(
        actor=exec_user,
        escalation=contested["escalation"],
        outcome=EscalationOutcome.COMPROMISE,
        rationale="Worth a second look once the export work lands.",
        compromise_status=RequestStatus.DEFERRED,
        compromise_terms="Revisit in Q2 with two more customers asking.",
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.DEFERRED
    escalation = Escalation.objects.get()
    assert escalation.compromise_terms == "Revisit in Q2 with two more customers asking."
    decision = request.decisions.first()
    assert decision.kind == DecisionKind.DEFER
    assert "Revisit in Q2 with two more customers asking." in decision.rationale
    assert decision.rationale.startswith("Worth a second look")


def test_requesters_and_deciding_product_manager_are_notified(
    exec_user, product_user, sales_user, contested, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.escalation_resolve(
            actor=exec_user,
            escalation=contested["escalation"],
            outcome=EscalationOutcome.OVERTURN,
            rationale="Strategic account.",
            target_quarter="2027-Q1",
        )
    notes = Notification.objects.filter(verb="escalation.resolved")
    assert {n.recipient for n in notes} == {sales_user, contested["rep2"], product_user}
    note = notes.get(recipient=sales_user)
    assert "overturned" in note.message and "2027-Q1" in note.message
    assert "Strategic account." in note.message
    assert note.url == contested["request"].get_absolute_url()
    assert not notes.filter(recipient=exec_user).exists()
    from django.core import mail

    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [sales_user.email, contested["rep2"].email, product_user.email]
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"outcome": "uphold", "rationale": "   "}, "rationale"),
        ({"outcome": "approve", "rationale": "x"}, "outcome"),
        ({"outcome": "overturn", "rationale": "x"}, "target_quarter"),
        ({"outcome": "overturn", "rationale": "x", "target_quarter": "Q1 2027"}, "target_quarter"),
        (
            {"outcome": "compromise", "rationale": "x", "compromise_status": "deferred"},
            "compromise_terms",
        ),
        (
            {
                "outcome": "compromise",
                "rationale": "x",
                "compromise_terms": "t",
                "compromise_status": "merged",
            },
            "compromise_status",
        ),
    ],
)
def test_invalid_input_writes_nothing(exec_user, contested, kwargs, field):
    with pytest.raises(ValidationError) as info:
        services.escalation_resolve(actor=exec_user, escalation=contested["escalation"], **kwargs)
    assert field in info.value.message_dict
    escalation = Escalation.objects.get()
    assert escalation.status == EscalationStatus.OPEN
    assert Decision.objects.count() == 1
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("role", ["sales", "product", "norole"])
def test_only_executives_resolve(users, contested, role):
    with pytest.raises(PermissionDenied):
        services.escalation_resolve(
            actor=users[role],
            escalation=contested["escalation"],
            outcome="uphold",
            rationale="I decide.",
        )
    assert Escalation.objects.get().status == EscalationStatus.OPEN


def test_superuser_may_resolve(admin_user, contested):
    services.escalation_resolve(
        actor=admin_user, escalation=contested["escalation"], outcome="uphold", rationale="Fine."
    )
    assert Escalation.objects.get().resolved_by == admin_user


def test_second_resolution_conflicts_and_changes_nothing(exec_user, contested):
    other_exec = UserFactory(username="exec2", roles=[EXECUTIVE])
    stale_copy = Escalation.objects.get()  # read by the second executive before the first acts
    services.escalation_resolve(
        actor=exec_user,
        escalation=contested["escalation"],
        outcome="overturn",
        rationale="Yes.",
        target_quarter="2027-Q1",
    )
    with pytest.raises(services.ConflictError):
        services.escalation_resolve(
            actor=other_exec, escalation=stale_copy, outcome="uphold", rationale="No."
        )
    escalation = Escalation.objects.get()
    assert escalation.resolved_by == exec_user and escalation.outcome == "overturn"
    assert FeatureRequest.objects.get().status == RequestStatus.ACCEPTED
    assert Decision.objects.filter(escalation=escalation).count() == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_executives_racing_on_postgres_resolve_it_once(celery_worker_process):
    """Two threads with their own connections resolve the same escalation at once: one wins."""
    from django.core.cache import cache

    cache.clear()  # no recompute-pending mark left by an earlier test holds back the recompute
    execs = [UserFactory(username=f"racer{i}", roles=[EXECUTIVE]) for i in range(2)]
    request = FeatureRequestFactory(status=RequestStatus.DECLINED)
    escalation = EscalationFactory(request=request)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def resolve(actor):
        try:
            copy = Escalation.objects.get(pk=escalation.pk)
            barrier.wait(timeout=10)
            services.escalation_resolve(
                actor=actor,
                escalation=copy,
                outcome="overturn",
                rationale=f"{actor.username} decides.",
                target_quarter="2027-Q1",
            )
            outcomes.append("won")
        except services.ConflictError:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=resolve, args=(actor,)) for actor in execs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "won"]
    assert Decision.objects.filter(escalation=escalation).count() == 1
    assert AuditEvent.objects.filter(verb="escalation.resolved").count() == 1
    # Let the worker finish what the resolution scheduled (score recompute, emails) before the
    # tables are flushed for the next test.
    from strategy.models import RequestScore

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        busy = (
            RequestScore.objects.filter(stale=True).exists()
            or Notification.objects.filter(emailed_at__isnull=True)
            .exclude(recipient__email="")
            .exists()
        )
        if not busy:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the worker did not finish the recompute and emails in 60 s")


def test_resolution_marks_the_score_stale_for_the_escalated_flag(
    exec_user, contested, django_capture_on_commit_callbacks
):
    from strategy.models import RequestScore

    request = contested["request"]
    RequestScore.objects.update_or_create(
        request=request, defaults={"flag_escalated": True, "stale": False}
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.escalation_resolve(
            actor=exec_user, escalation=contested["escalation"], outcome="uphold", rationale="No."
        )
    assert RequestScore.objects.get(request=request).stale is True
    assert callbacks  # a recompute (and the emails) are scheduled after commit
