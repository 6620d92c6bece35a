"""``manage.py import_crm FILE [--dry-run] [--all-or-nothing]``: import a CRM export of accounts or
deals (Salesforce, HubSpot or Maven layout). Prints one line per rejected row, then a JSON summary
as the last line; exits non-zero when any row was rejected."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from requests_app.importers import parse_crm_file
from requests_app.services import crm_import


class Command(BaseCommand):
    help = "Import accounts or deals from a CRM CSV export (Salesforce, HubSpot, Maven)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the CSV file")
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        parser.add_argument(
            "--all-or-nothing",
            action="store_true",
            help="write nothing when any row is rejected",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        parsed = parse_crm_file(data)
        summary = crm_import(
            actor=None,
            parsed=parsed,
            dry_run=options["dry_run"],
            all_or_nothing=options["all_or_nothing"],
        )
        for error in summary.errors:
            self.stdout.write(str(error))
        result = {
            **summary.as_dict(),
            "layout": summary.layout,
            "rows": parsed.total_rows,
            "written": summary.written,
        }
        self.stdout.write(json.dumps(result))
        if summary.errors:
            raise CommandError(
                f"{len(summary.errors)} row(s) rejected"
                + ("" if summary.written else "; nothing was written"),
                returncode=1,
            )
