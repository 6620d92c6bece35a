import json

from django.core.management.base import BaseCommand

from strategy.models import RequestScore
from strategy.services import scores_recompute, scores_recompute_stale


class Command(BaseCommand):
    help = (
        "Recompute stale scores (and score requests that have none); with --all, every score. "
        "Prints one JSON object as its last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Recompute every score.")

    def handle(self, *args, **options):
        if options["all"]:
            written = scores_recompute(cause="Recomputed by an administrator")
        else:
            written = scores_recompute_stale(include_missing=True)
        stale_left = RequestScore.objects.filter(stale=True).count()
        self.stdout.write(
            json.dumps({"recomputed": written, "stale_left": stale_left, "all": options["all"]})
        )
