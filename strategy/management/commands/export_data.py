import json
from pathlib import Path

from django.core.management.base import BaseCommand

from strategy.data_transfer import data_export


class Command(BaseCommand):
    help = (
        "Export users, accounts, deals, themes, scoring policy versions, requests, asks, "
        "alignments, decisions and escalations: one JSON file, or one CSV per table into a "
        "directory with --format csv. The last line is JSON with the row counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSON file to write, or directory for --format csv")
        parser.add_argument("--format", choices=["json", "csv"], default="json")

    def handle(self, *args, **options):
        path = Path(options["path"])
        counts = data_export(path=path, fmt=options["format"])
        self.stdout.write(f"Exported {sum(counts.values())} rows to {path} ({options['format']}).")
        self.stdout.write(json.dumps({"path": str(path), "format": options["format"], **counts}))
