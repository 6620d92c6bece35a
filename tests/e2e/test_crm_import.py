"""An administrator uploads a CRM export and reads the result; the API docs page loads."""

from __future__ import annotations

import pytest

from requests_app.models import Deal

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = (
    "Opportunity ID,Opportunity Name,Account Name,Stage,Amount,Close Date\n"
    'O1,Acme renewal,Acme,Negotiation/Review,"$1,250,000.00",12/15/2026\n'
    "O2,Globex pilot,Globex,Pending legal,100,2026-12-01\n"
    "O3,Initech seats,Initech,Prospecting,12abc,2026-13-01\n"
)


def test_upload_shows_progress_result_and_rejected_rows(page, screenshot, users, tmp_path):
    path = tmp_path / "opportunities.csv"
    path.write_text(CSV)
    login(page, "admin")
    page.get_by_role("link", name="CRM import").click()
    assert page.get_by_role("heading", name="CRM import", level=1).is_visible()
    screenshot("crm-import-empty")
    page.get_by_label("CRM export (CSV)").set_input_files(str(path))
    page.get_by_role("button", name="Import file").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Import: opportunities.csv").is_visible()
    page.get_by_role("heading", name="Rejected rows").wait_for()
    assert page.get_by_text("unknown stage 'Pending legal'").is_visible()
    assert Deal.objects.filter(external_id="O1").exists()
    screenshot("crm-import-result")


def test_upload_of_an_unknown_file_is_explained(page, screenshot, users, tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("name,colour\nx,y\n")
    login(page, "admin")
    page.goto("/imports/")
    page.get_by_label("CRM export (CSV)").set_input_files(str(path))
    page.get_by_role("button", name="Import file").click()
    assert page.get_by_text("does not look like a CRM export").is_visible()
    screenshot("crm-import-bad-file")


def test_api_docs_render_from_local_assets(page, screenshot, users):
    login(page, "admin")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/api/docs/")
    page.get_by_text("Triage API").first.wait_for()
    assert not [e for e in errors if "Content Security Policy" in e]
    screenshot("api-docs")
