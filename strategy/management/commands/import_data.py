import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from strategy.data_transfer import ImportRefused, data_import, read_export
from strategy.services import scores_recompute


class Command(BaseCommand):
    help = (
        "Import an export made by export_data (a JSON file or a directory of CSV files) into an "
        "EMPTY database, in one transaction, keeping ids and relations; then recompute the "
        "scores. Refuses, writing nothing, when the database already holds data. The last line "
        "is JSON with the row counts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path", help="JSON file or directory of CSV files written by export_data"
        )
        parser.add_argument(
            "--no-recompute",
            action="store_true",
            help="Leave the scores to the periodic sweep instead of computing them now.",
        )

    def handle(self, *args, **options):
        path = Path(options["path"])
        try:
            counts = data_import(tables=read_export(path))
        except ImportRefused as exc:
            raise CommandError(str(exc)) from None
        scored = None
        if not options["no_recompute"]:
            scored = scores_recompute(cause="Data import")
        self.stdout.write(f"Imported {path}.")
        self.stdout.write(json.dumps({"path": str(path), **counts, "scores_computed": scored}))
