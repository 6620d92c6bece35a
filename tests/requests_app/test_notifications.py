from __future__ import annotations

import pytest
from django.core import mail

from requests_app import services
from requests_app.models import Notification
from tests.factories import AccountFactory, AskFactory, FeatureRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_followers_are_submitter_and_askers(sales_user):
    other = UserFactory()
    request = FeatureRequestFactory(created_by=sales_user)
    AskFactory(request=request, created_by=other)
    AskFactory(request=request, created_by=other)
    AskFactory(created_by=UserFactory())  # another request
    assert services.request_followers(request=request) == {sales_user, other}


def test_notify_creates_rows_and_emails_once_after_commit(
    sales_user, product_user, django_capture_on_commit_callbacks
):
    request = FeatureRequestFactory(created_by=sales_user)
    services.ask_add(actor=sales_user, request=request, account=AccountFactory())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.notify(
            recipients=services.request_followers(request=request) | {product_user},
            verb="decision.recorded",
            message=f"Declined: {request.title}",
            request=request,
            exclude=product_user,
        )
    assert len(mail.outbox) == 0  # nothing is sent before commit
    assert len(callbacks) == 1
    for callback in callbacks:
        callback()
    assert [m.to for m in mail.outbox] == [[sales_user.email]]
    note = Notification.objects.get()
    assert note.recipient == sales_user and note.emailed_at is not None
    assert note.url == request.get_absolute_url()
    # Running the task again (a retry) sends nothing more.
    from requests_app.tasks import notification_email_send

    assert notification_email_send(note.pk) is False
    assert len(mail.outbox) == 1
