"""Database failures become clear responses, never 500 pages."""

from __future__ import annotations

import json

import pytest
from django.db import IntegrityError, OperationalError
from django.test import RequestFactory

from triage.middleware import DatabaseUnavailableMiddleware


@pytest.fixture
def middleware():
    return DatabaseUnavailableMiddleware(lambda request: None)


def test_constraint_violation_is_a_409_page(middleware):
    request = RequestFactory().post("/requests/new/")
    response = middleware.process_exception(request, IntegrityError("duplicate key"))
    assert response.status_code == 409
    assert b"conflicts with data that already exists" in response.content


def test_lost_database_is_a_503_json_for_the_api(middleware):
    request = RequestFactory().get("/api/v1/requests/")
    response = middleware.process_exception(request, OperationalError("connection refused"))
    assert response.status_code == 503
    assert json.loads(response.content) == {"detail": "Triage cannot reach its database right now."}


def test_other_errors_are_left_alone(middleware):
    request = RequestFactory().get("/board/")
    assert middleware.process_exception(request, ValueError("boom")) is None
