"""PostgreSQL connections dropped in the middle of a request: a clear 503, nothing half-written.

The drop is real: just before a chosen statement of a request submission, a second connection
ends the web request's backend with ``pg_terminate_backend``; the statement then runs on a dead
connection.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import psycopg2
import pytest
from django.db import connection

from requests_app.models import Ask, AuditEvent, FeatureRequest, ProductArea
from strategy.services import scores_recompute
from tests.conftest import require_real_services
from tests.factories import AccountFactory, DealFactory, FeatureRequestFactory

pytestmark = pytest.mark.integration


def _admin_connection():
    s = connection.settings_dict
    return psycopg2.connect(
        dbname=s["NAME"],
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
    )


@contextmanager
def drop_connection_before(fragment: str, occurrence: int = 1):
    """Terminate this process's database backend right before the ``occurrence``-th statement
    that contains ``fragment``; yields a dict telling whether the drop happened."""
    state = {"seen": 0, "dropped": False}
    killer = _admin_connection()
    killer.autocommit = True

    def wrapper(execute, sql, params, many, context):
        if not state["dropped"] and fragment in sql:
            state["seen"] += 1
            if state["seen"] == occurrence:
                pid = context["connection"].connection.get_backend_pid()
                with killer.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
                    assert cursor.fetchone()[0], "the backend was not terminated"
                    for _ in range(100):  # wait until the server has really let it go
                        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
                        if cursor.fetchone() is None:
                            break
                        time.sleep(0.02)
                state["dropped"] = True
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(wrapper):
            yield state
    finally:
        killer.close()
        # What the next request would do (close_old_connections): throw the dead connection away.
        connection.close()


@pytest.fixture
def submission(sales_user):
    account = AccountFactory(name="Acme Freight")
    deal = DealFactory(account=account, name="Acme renewal")
    return {
        "title": "Route planning export",
        "problem": "Dispatchers re-key every route into the ERP by hand each morning.",
        "desired_outcome": "",
        "who_affected": "",
        "product_area": ProductArea.INTEGRATIONS,
        "account": account.pk,
        "deal": deal.pk,
        "importance": "blocker",
        "note": "We lose two hours a day.",
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("statement", "occurrence"),
    [
        ('INSERT INTO "requests_app_featurerequest"', 1),  # the first write
        ('INSERT INTO "requests_app_ask"', 1),  # request and its audit row already written
        ('INSERT INTO "requests_app_auditevent"', 2),  # everything but the last audit row
    ],
)
def test_connection_dropped_mid_submission_is_a_503_and_nothing_is_stored(
    client, sales_user, submission, statement, occurrence
):
    require_real_services()
    client.force_login(sales_user)
    audit_before = AuditEvent.objects.count()
    with drop_connection_before(statement, occurrence) as state:
        response = client.post("/requests/new/", submission)
    assert state["dropped"], f"no {statement} was run: the submission path changed"
    assert response.status_code == 503
    body = response.content.decode()
    assert "Triage cannot reach its database right now." in body
    assert "Nothing was half-saved" in body
    # a fresh connection sees no trace of the submission
    assert not FeatureRequest.objects.filter(title=submission["title"]).exists()
    assert not Ask.objects.filter(note=submission["note"]).exists()
    assert AuditEvent.objects.count() == audit_before
    # and the service is back for the next request
    response = client.post("/requests/new/", submission)
    assert response.status_code == 302
    assert FeatureRequest.objects.filter(title=submission["title"]).count() == 1
    assert Ask.objects.filter(note=submission["note"]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_connection_dropped_while_reading_a_page_is_a_503(client, product_user):
    require_real_services()
    client.force_login(product_user)
    FeatureRequestFactory.create_batch(3)
    scores_recompute()
    with drop_connection_before('FROM "requests_app_featurerequest"') as state:
        response = client.get("/board/")
    assert state["dropped"]
    assert response.status_code == 503
    assert "Triage cannot reach its database right now." in response.content.decode()
    assert client.get("/board/").status_code == 200
