"""Webhooks: the signed inbound CRM hook, and outbound deliveries to a real HTTP server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from requests_app import services, webhooks
from requests_app.models import (
    AuditEvent,
    Deal,
    DeliveryStatus,
    RequestStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from tests.factories import AccountFactory, FeatureRequestFactory

SECRET = "crm-shared-secret-for-tests"


class Receiver:
    """A real HTTP server on 127.0.0.1 that answers with the queued status codes (then 200)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                code = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code < 300 else b"try later")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# --- Signing ---------------------------------------------------------------------------------


def test_sign_and_verify():
    body = b'{"a":1}'
    now = 1_800_000_000
    signature = webhooks.sign(secret="k", timestamp=now, body=body)
    assert signature.startswith("sha256=") and len(signature) == 71
    assert webhooks.verify(secret="k", timestamp=str(now), signature=signature, body=body, now=now)
    assert not webhooks.verify(
        secret="k", timestamp=str(now), signature=signature, body=b"{}", now=now
    )
    assert not webhooks.verify(
        secret="other", timestamp=str(now), signature=signature, body=body, now=now
    )
    assert not webhooks.verify(
        secret="k", timestamp=str(now), signature=signature, body=body, now=now + 301
    )
    assert not webhooks.verify(secret="k", timestamp="x", signature=signature, body=body)
    assert not webhooks.verify(secret="", timestamp=str(now), signature=signature, body=body)


def test_backoff_is_exponential_and_capped():
    delays = [webhooks.backoff_seconds(n, base=30, maximum=3600) for n in range(1, 9)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600]


# --- Inbound CRM hook ------------------------------------------------------------------------

URL = "/api/v1/integrations/crm/deals/"


def signed_post(body: dict, *, secret=SECRET, timestamp=None, signature=None):
    raw = json.dumps(body).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    sig = signature or webhooks.sign(secret=secret, timestamp=ts, body=raw)
    return APIClient().post(
        URL,
        raw,
        content_type="application/json",
        HTTP_X_TRIAGE_TIMESTAMP=str(ts),
        HTTP_X_TRIAGE_SIGNATURE=sig,
    )


DEALS = {
    "deals": [
        {
            "external_id": "006-1",
            "name": "Acme renewal",
            "stage": "Negotiation/Review",
            "account_name": "Acme",
            "amount": "$150,000.00",
            "close_date": "12/15/2026",
        },
        {
            "external_id": "006-2",
            "name": "Acme add-on",
            "stage": "closedwon",
            "account_name": "Acme",
            "amount": "5000",
        },
    ]
}


@pytest.mark.django_db
def test_signed_crm_hook_upserts_and_replays_are_harmless(settings):
    settings.CRM_WEBHOOK_SECRET = SECRET
    response = signed_post(DEALS)
    assert response.status_code == 200, response.content
    assert response.json()["deals_created"] == 2 and response.json()["accounts_created"] == 1
    deal = Deal.objects.get(external_id="006-1")
    assert (deal.stage, deal.probability, str(deal.amount)) == ("negotiation", 75, "150000.00")
    replay = signed_post(DEALS)
    assert replay.status_code == 200 and replay.json()["unchanged"] == 2
    assert Deal.objects.count() == 2


@pytest.mark.django_db
def test_crm_hook_rejects_bad_and_stale_signatures(settings):
    settings.CRM_WEBHOOK_SECRET = SECRET
    assert signed_post(DEALS, secret="wrong").status_code == 401
    stale = int(time.time()) - 301
    assert signed_post(DEALS, timestamp=stale).status_code == 401
    assert signed_post(DEALS, signature="sha256=00").status_code == 401
    assert APIClient().post(URL, DEALS, format="json").status_code == 401
    settings.CRM_WEBHOOK_SECRET = ""
    assert signed_post(DEALS).status_code == 401
    assert not Deal.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_crm_hook_bad_rows_write_nothing(settings):
    settings.CRM_WEBHOOK_SECRET = SECRET
    body = {"deals": [DEALS["deals"][0], {**DEALS["deals"][1], "stage": "Pending legal"}]}
    response = signed_post(body)
    assert response.status_code == 400
    assert response.json()["rows"] == [
        {"row": 2, "column": "stage", "reason": "unknown stage 'Pending legal'"}
    ]
    assert not Deal.objects.exists()
    response = signed_post({"deals": "nope"})
    assert response.status_code == 400 and "deals" in response.json()


# --- Outbound deliveries ---------------------------------------------------------------------


def subscribe(url, events=("request.created",)):
    return WebhookSubscription.objects.create(url=url, secret="s" * 32, events=list(events))


@pytest.mark.django_db(transaction=True)
def test_request_created_is_delivered_signed_after_commit(receiver, sales_user):
    subscription = subscribe(receiver.url)
    services.request_submit(
        actor=sales_user,
        title="Bulk export",
        problem="They copy rows by hand.",
        product_area="reporting",
        account=AccountFactory(),
    )
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
    [sent] = receiver.requests
    assert webhooks.verify(
        secret=subscription.secret,
        timestamp=sent["headers"]["X-Triage-Timestamp"],
        signature=sent["headers"]["X-Triage-Signature"],
        body=sent["body"],
    )
    payload = json.loads(sent["body"])
    assert payload["event"] == "request.created"
    assert payload["data"]["request"]["title"] == "Bulk export"
    assert sent["headers"]["X-Triage-Delivery"] == payload["id"] == str(delivery.event_id)
    assert WebhookAttempt.objects.get().status_code == 200


@pytest.mark.django_db
def test_nothing_is_sent_before_commit(receiver, sales_user, django_capture_on_commit_callbacks):
    subscribe(receiver.url)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        FeatureRequestFactory(created_by=sales_user)
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()
    assert [c for c in callbacks if "_emit_after_commit" in c.__qualname__]


@pytest.mark.django_db(transaction=True)
def test_failed_deliveries_are_retried_then_delivered(receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    receiver.statuses = [500, 503]
    subscribe(receiver.url)
    FeatureRequestFactory()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
    assert list(delivery.tries.values_list("number", "status_code")) == [
        (1, 500),
        (2, 503),
        (3, 200),
    ]
    assert len(receiver.requests) == 3


@pytest.mark.django_db(transaction=True)
def test_delivery_gives_up_after_the_last_attempt(receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.statuses = [500] * 10
    subscribe(receiver.url)
    FeatureRequestFactory()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3
    assert len(receiver.requests) == 3
    # Running the task again does nothing once it gave up.
    assert services.webhook_delivery_attempt(delivery_id=delivery.pk) is None


@pytest.mark.django_db
def test_unreachable_receiver_is_logged_with_its_error(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 5
    subscription = subscribe("http://127.0.0.1:9/closed")
    [delivery] = services.webhook_event_emit(event="request.created", data={"x": 1})
    delivery = services.webhook_delivery_attempt(delivery_id=delivery.pk)
    assert delivery.status == DeliveryStatus.RETRYING and delivery.next_attempt_at
    attempt = delivery.tries.get()
    assert attempt.status_code is None and attempt.error
    assert subscription.deliveries.count() == 1


@pytest.mark.django_db
def test_only_subscribed_events_are_queued():
    subscribe("http://127.0.0.1:9/a", events=["decision.recorded"])
    WebhookSubscription.objects.create(
        url="http://127.0.0.1:9/b", secret="s" * 32, events=["request.created"], active=False
    )
    assert services.webhook_event_emit(event="request.created", data={}) == []
    assert len(services.webhook_event_emit(event="decision.recorded", data={})) == 1


@pytest.mark.django_db(transaction=True)
def test_status_change_from_an_audited_update_is_announced(receiver):
    subscribe(receiver.url, events=["request.status_changed"])
    request = FeatureRequestFactory()
    from django.db import transaction

    with transaction.atomic():
        type(request).objects.filter(pk=request.pk).update(status=RequestStatus.UNDER_REVIEW)
        services.audit_record(
            actor=None,
            verb="request.status_changed",
            obj=request,
            before={"status": "new"},
            after={"status": "under_review"},
        )
    [sent] = receiver.requests
    payload = json.loads(sent["body"])
    assert payload["event"] == "request.status_changed"
    assert (payload["data"]["from"], payload["data"]["to"]) == ("new", "under_review")
    assert payload["data"]["request"]["status"] == "under_review"


@pytest.mark.django_db(transaction=True)
def test_decision_and_escalation_events(receiver):
    from tests.factories import DealFactory, DecisionFactory, EscalationFactory

    subscribe(
        receiver.url,
        events=["decision.recorded", "escalation.opened", "escalation.resolved"],
    )
    request = FeatureRequestFactory(status=RequestStatus.DECLINED)
    DecisionFactory(request=request, rationale="Serves one buyer.")
    from django.db import transaction

    deal = DealFactory()
    with transaction.atomic():
        escalation = EscalationFactory(request=request)
        escalation.deals.add(deal)
    with transaction.atomic():
        type(escalation).objects.filter(pk=escalation.pk).update(
            status="resolved", outcome="uphold", resolution_rationale="Off strategy."
        )
        services.audit_record(actor=None, verb="escalation.resolved", obj=escalation)
    events = [json.loads(r["body"]) for r in receiver.requests]
    assert [e["event"] for e in events] == [
        "decision.recorded",
        "escalation.opened",
        "escalation.resolved",
    ]
    decision, opened, resolved = (e["data"] for e in events)
    assert decision["decision"]["kind"] == "decline"
    assert decision["decision"]["rationale"] == "Serves one buyer."
    assert decision["request"]["id"] == request.pk
    # Built after commit, so the deals added after the row was created are included.
    assert opened["escalation"]["deals"] == [deal.pk]
    assert resolved["escalation"]["outcome"] == "uphold"


@pytest.mark.django_db(transaction=True)
def test_rolled_back_changes_announce_nothing(receiver):
    from django.db import transaction

    subscribe(receiver.url)
    with pytest.raises(RuntimeError), transaction.atomic():
        FeatureRequestFactory()
        raise RuntimeError("changed my mind")
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_decision_through_the_api_announces_decision_and_status(receiver, product_user):
    subscribe(receiver.url, events=["decision.recorded", "request.status_changed"])
    request = FeatureRequestFactory()
    client = APIClient()
    client.force_authenticate(product_user)
    response = client.post(
        f"/api/v1/requests/{request.pk}/decisions/",
        {"kind": "decline", "rationale": "Serves one buyer; off strategy."},
        format="json",
    )
    assert response.status_code == 201, response.content
    events = {json.loads(r["body"])["event"]: json.loads(r["body"]) for r in receiver.requests}
    assert set(events) == {"decision.recorded", "request.status_changed"}
    change = events["request.status_changed"]["data"]
    assert (change["from"], change["to"], change["actor"]) == ("new", "declined", "product")
    assert events["decision.recorded"]["data"]["decision"]["rationale"].startswith("Serves one")
