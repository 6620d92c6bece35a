import json

from django.core.management.base import BaseCommand

from strategy.demo.seed import DEMO_PASSWORD, DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = "Create the demo company (users per role, CRM data, themes, requests). Idempotent."

    def handle(self, *args, **options):
        counts = seed_demo()
        self.stdout.write(f"Demo users (password '{DEMO_PASSWORD}'):")
        for username, _first, _last, role, is_superuser in DEMO_USERS:
            self.stdout.write(
                f"  {username:<8} {role or ('administrator' if is_superuser else '')}"
            )
        self.stdout.write(json.dumps(counts))
