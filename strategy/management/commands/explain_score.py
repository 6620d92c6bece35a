import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from requests_app.models import FeatureRequest
from strategy.services import score_for
from triage.templatetags.triage_tags import money


def _day(iso: str | None) -> str:
    return dt.date.fromisoformat(iso).strftime("%b %d, %Y") if iso else "—"


class Command(BaseCommand):
    help = "Print a human-readable breakdown of one request's score (recomputed first if stale)."

    def add_arguments(self, parser):
        parser.add_argument("request_id", type=int)

    def handle(self, *args, **options):
        request = FeatureRequest.objects.filter(pk=options["request_id"]).first()
        if request is None:
            raise CommandError(f"No request #{options['request_id']}.")
        score = score_for(request=request)
        e = score.explanation
        c = e.get("components", {})
        out = self.stdout.write
        out(f"#{request.pk} {request.title}  [{request.get_status_display()}]")
        out(
            f"Total {score.total:.1f} = value {score.value:.1f} × effort factor "
            f"{score.effort_factor:.2f}   (policy v{score.policy_version}, computed "
            f"{score.computed_at:%b %d, %Y %H:%M})"
        )
        for flag in score.flags:
            out(f"  ⚑ {flag}: {e.get('flag_reasons', {}).get(flag, '')}")
        labels = [
            ("strategic_fit", "Strategic fit"),
            ("customer_breadth", "Customer breadth"),
            ("revenue_at_stake", "Revenue at stake"),
        ]
        for key, label in labels:
            part = c.get(key, {})
            out("")
            out(
                f"{label}: {part.get('score', 0):.1f} × weight {part.get('weight', 0):g} "
                f"→ {part.get('contribution', 0):.1f} of value"
            )
            out(f"  {part.get('summary', '')}")
            for theme in part.get("themes", []):
                out(
                    f"    theme {theme['name']} (weight {theme['weight']}): strength "
                    f"{theme['strength']}/3, {theme['share'] * 100:.0f}% of fit"
                )
            for account in part.get("accounts", []):
                out(
                    f"    customer {account['name']}: ARR {money(account['arr'])}, "
                    f"{account['share'] * 100:.0f}% of the asking customers' ARR"
                )
            for deal in part.get("deals", []):
                out(
                    f"    deal {deal['name']} ({deal['account']}): {money(deal['amount'])} "
                    f"{deal['stage'].replace('_', ' ')} {deal['probability']}%, "
                    f"close {_day(deal['close_date'])}, {deal['importance'].replace('_', ' ')}, "
                    f"urgency {deal['urgency']:.2f} → {money(deal['weighted'])} "
                    f"({deal['share'] * 100:.0f}%)"
                )
        effort = c.get("effort", {})
        out("")
        out(f"Effort: {effort.get('summary', '')}")
        alternatives = e.get("alternatives", {})
        if alternatives:
            rice = alternatives.get("rice", {}).get("score")
            wsjf = alternatives.get("wsjf", {}).get("score")
            out(
                f"RICE {'—' if rice is None else f'{rice:g}'} · "
                f"WSJF {'—' if wsjf is None else f'{wsjf:g}'}"
            )
