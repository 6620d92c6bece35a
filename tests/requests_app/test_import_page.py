"""The CRM import page: access, upload, progress and the row-level report; admin views."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from requests_app.models import Account, Deal, ImportJob, ImportStatus
from requests_app.services import import_job_run
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DEALS_CSV = (
    "\ufeffOpportunity ID,Opportunity Name,Account Name,Stage,Amount,Close Date\n"
    'O1,Acme renewal,Acme,Negotiation/Review,"$1,250,000.00",12/15/2026\n'
    "O2,Globex,Globex,Pending legal,100,2026-12-01\n"
).encode()


def upload(client, content=DEALS_CSV, **extra):
    return client.post(
        reverse("requests_app:imports"),
        {"file": SimpleUploadedFile("deals.csv", content, "text/csv"), **extra},
    )


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``committed(client, ...)`` uploads and runs the after-commit hooks (the import task)
    as a real commit would."""

    def run(client, content=DEALS_CSV, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return upload(client, content, **extra)

    return run


def test_access(client, users):
    url = reverse("requests_app:imports")
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    for role in ("sales", "product", "exec", "norole"):
        client.force_login(users[role])
        assert client.get(url).status_code == 403, role
    client.force_login(users["admin"])
    assert client.get(url).status_code == 200
    staff = UserFactory(username="salesops", is_staff=True)
    client.force_login(staff)
    page = client.get(url)
    assert page.status_code == 200 and b"No imports yet" in page.content
    assert b"CRM import" in page.content  # in the navigation


def test_upload_imports_good_rows_and_reports_bad_ones(client, admin_user, committed):
    client.force_login(admin_user)
    response = committed(client)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("requests_app:import_job", args=[job.pk])
    # No broker in unit tests: the task ran in-process after the commit.
    assert job.status == ImportStatus.DONE and job.layout == "salesforce_report"
    assert job.result["deals_created"] == 1 and job.result["errors"] == 1
    assert Deal.objects.get().amount == 1250000
    page = client.get(response["Location"])
    assert b"Rejected rows" in page.content and b"unknown stage &#x27;Pending legal&#x27;" in (
        page.content
    )
    assert b'value="100"' in page.content  # the finished progress bar
    assert b"hx-trigger" not in page.content  # nothing left to poll


def test_all_or_nothing_and_dry_run(client, admin_user, committed):
    client.force_login(admin_user)
    committed(client, all_or_nothing="on")
    assert not Deal.objects.exists() and not Account.objects.exists()
    job = ImportJob.objects.get()
    assert job.result["written"] is False
    assert (
        b"Nothing was written"
        in client.get(reverse("requests_app:import_job", args=[job.pk])).content
    )
    committed(client, content=DEALS_CSV.replace(b"Pending legal", b"Prospecting"), dry_run="on")
    assert not Deal.objects.exists()
    assert ImportJob.objects.first().result["deals_created"] == 2


def test_bad_files_are_refused_next_to_the_field(client, admin_user, settings):
    client.force_login(admin_user)
    response = upload(client, content=b"name,colour\nx,y\n")
    assert response.status_code == 200
    assert b"does not look like a CRM export" in response.content
    assert response.context["form"].errors["file"]
    assert b"Choose the CSV file" in client.post(reverse("requests_app:imports"), {}).content
    settings.CRM_IMPORT_MAX_BYTES = 10
    assert b"larger than" in upload(client).content
    assert not ImportJob.objects.exists()


def test_progress_partial_while_running(client, admin_user, django_capture_on_commit_callbacks):
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=False):
        upload(client)
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.PENDING
    partial = client.get(reverse("requests_app:import_job", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert b"hx-trigger" in partial.content and b"<html" not in partial.content
    assert b"Waiting for a worker" in partial.content
    # The task runs once; a repeated run leaves the finished job alone.
    assert import_job_run(job_id=job.pk).status == ImportStatus.DONE
    assert import_job_run(job_id=job.pk) is None


def test_admin_lists_imports_and_deliveries(client, admin_user, committed):
    client.force_login(admin_user)
    committed(client)
    for name in (
        "admin:requests_app_importjob_changelist",
        "admin:requests_app_webhookdelivery_changelist",
        "admin:requests_app_webhooksubscription_changelist",
    ):
        assert client.get(reverse(name)).status_code == 200
    job = ImportJob.objects.get()
    assert (
        client.get(reverse("admin:requests_app_importjob_change", args=[job.pk])).status_code == 200
    )
