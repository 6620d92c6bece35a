"""Background work for requests: notification emails."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from .models import Notification

logger = logging.getLogger(__name__)


@shared_task(
    name="requests_app.notification_email_send",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
    acks_late=True,
)
def notification_email_send(notification_id: int) -> bool:
    """Email one notification to its recipient, once. Returns False when there is nothing to do
    (the row is gone, already emailed, or the user has no address)."""
    notification = (
        Notification.objects.select_related("recipient").filter(pk=notification_id).first()
    )
    if notification is None or notification.emailed_at or not notification.recipient.email:
        return False
    # Claim the row first so a retry after a crash cannot send the same email twice.
    claimed = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    )
    if not claimed:
        return False
    link = f"{settings.SITE_URL}{notification.url}" if notification.url else settings.SITE_URL
    try:
        send_mail(
            subject=f"[Triage] {notification.message[:120]}",
            message=f"{notification.message}\n\n{link}\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[notification.recipient.email],
        )
    except OSError:
        Notification.objects.filter(pk=notification_id).update(emailed_at=None)
        raise
    return True


@shared_task(
    bind=True,
    name="requests_app.webhook_delivery_send",
    acks_late=True,
    soft_time_limit=60,
    time_limit=90,
)
def webhook_delivery_send(self, delivery_id: int) -> str | None:
    """Try one webhook delivery; schedule the next try with exponential backoff when it failed,
    until ``WEBHOOK_MAX_ATTEMPTS`` tries were made.

    Returns the delivery status, or None when there was nothing to do."""
    from . import services, webhooks
    from .models import DeliveryStatus

    delivery = services.webhook_delivery_attempt(delivery_id=delivery_id)
    if delivery is None:
        return None
    if self.request.is_eager:
        # No broker (tasks run in-process): the retries cannot wait, so they follow at once.
        while delivery is not None and delivery.status == DeliveryStatus.RETRYING:
            delivery = services.webhook_delivery_attempt(delivery_id=delivery_id)
        return delivery.status if delivery else None
    if delivery.status == DeliveryStatus.RETRYING:
        countdown = webhooks.backoff_seconds(
            delivery.attempts,
            base=settings.WEBHOOK_RETRY_BASE_SECONDS,
            maximum=settings.WEBHOOK_RETRY_MAX_SECONDS,
        )
        raise self.retry(countdown=countdown, max_retries=settings.WEBHOOK_MAX_ATTEMPTS)
    return delivery.status


@shared_task(
    bind=True,
    name="requests_app.crm_import_run",
    acks_late=True,
    soft_time_limit=1800,
    time_limit=1900,
)
def crm_import_run(self, job_id: int) -> str | None:
    """Run an uploaded CRM import; safe to repeat (a finished job is left alone)."""
    from . import services

    job = services.import_job_run(job_id=job_id)
    return job.status if job else None
