"""A CRM upload is imported by a real worker process through the real broker."""

from __future__ import annotations

import time

import pytest

from requests_app.models import Deal, ImportJob, ImportStatus
from requests_app.services import import_job_start

from .test_import_crm import dataset

pytestmark = pytest.mark.integration


@pytest.mark.django_db(transaction=True)
def test_worker_imports_the_maven_pipeline(celery_worker_process, admin_user):
    import_job_start(
        actor=admin_user,
        filename="accounts.csv",
        data=dataset("maven-crm/accounts.csv").read_bytes(),
    )
    job = import_job_start(
        actor=admin_user,
        filename="sales_pipeline.csv",
        data=dataset("maven-crm/sales_pipeline.csv").read_bytes(),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in (ImportStatus.DONE, ImportStatus.FAILED):
            break
        time.sleep(0.5)
    assert job.status == ImportStatus.DONE, job.failure
    assert job.total_rows == 8800 and job.processed_rows == 8800
    assert job.result["errors"] == 1425 and job.result["rows_rejected"] == 1425
    assert ImportJob.objects.filter(status=ImportStatus.DONE).count() == 2
    # The accounts job ran first (same queue, one worker), so every deal found its account.
    assert job.result["deals_created"] == 7375 and Deal.objects.count() == 7375
