"""The CRM import page: upload a file, watch its progress, read what happened row by row.

Open to superusers and staff users (sales operations keep the CRM in step; they are given staff
status by an administrator). Everyone else gets 403; anonymous users go to the login page.
"""

from __future__ import annotations

import csv
import io
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render

from . import services
from .importers import decode, detect_layout
from .models import ImportJob, ImportStatus


def can_import(user) -> bool:
    """Who may upload CRM files: active superusers and staff users."""
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and (user.is_superuser or user.is_staff)
    )


def import_access_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not can_import(request.user):
            raise PermissionDenied("Only administrators and sales operations import CRM files.")
        return view(request, *args, **kwargs)

    return wrapped


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CRM export (CSV)",
        help_text="Accounts or deals exported from Salesforce or HubSpot, or the Maven layout.",
        error_messages={"required": "Choose the CSV file to import."},
    )
    dry_run = forms.BooleanField(
        label="Dry run: check the file and count, change nothing", required=False
    )
    all_or_nothing = forms.BooleanField(
        label="All or nothing: import no row when any row is rejected", required=False
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.CRM_IMPORT_MAX_BYTES:
            limit = settings.CRM_IMPORT_MAX_BYTES // (1024 * 1024)
            raise forms.ValidationError(f"The file is larger than {limit} MB; split it.")
        data = upload.read()
        first_line = decode(data[:65536]).splitlines()[:1]
        try:
            header = next(csv.reader(io.StringIO(first_line[0]))) if first_line else []
        except csv.Error:
            header = []
        if not header or detect_layout(header) is None:
            raise forms.ValidationError(
                "This does not look like a CRM export we know: the first line should be the "
                "column names of a Salesforce, HubSpot or Maven export of accounts or deals."
            )
        upload.data = data
        return upload


@import_access_required
def imports(request):
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = services.import_job_start(
            actor=request.user,
            filename=upload.name,
            data=upload.data,
            dry_run=form.cleaned_data["dry_run"],
            all_or_nothing=form.cleaned_data["all_or_nothing"],
        )
        return redirect("requests_app:import_job", pk=job.pk)
    jobs = ImportJob.objects.select_related("created_by").defer("content")[:20]
    return render(request, "requests_app/imports.html", {"form": form, "jobs": jobs})


def _with_live_progress(job: ImportJob) -> ImportJob:
    if job.status == ImportStatus.RUNNING:
        job.processed_rows = cache.get(services.import_progress_key(job.pk)) or 0
    return job


@import_access_required
def import_job(request, pk: int):
    job = _with_live_progress(
        get_object_or_404(ImportJob.objects.select_related("created_by").defer("content"), pk=pk)
    )
    template = (
        "requests_app/_import_progress.html" if request.htmx else "requests_app/import_job.html"
    )
    return render(request, template, {"job": job, "finished": _finished(job)})


def _finished(job: ImportJob) -> bool:
    return job.status in (ImportStatus.DONE, ImportStatus.FAILED)
