"""The permission matrix: every URL pattern of the project, every kind of user.

The patterns are enumerated from the URL resolver, so a new page or endpoint fails this test until
its rule is written down in ``RULES`` (or ``ADMIN`` covers it). Each rule gives the method, how to
fill the URL's arguments from sample objects, and the outcome per user:

- ``LOGIN``: redirected to the sign-in page (pages) / 401 (API)
- a status code: exactly that status
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from requests_app.models import ImportJob, WebhookSubscription
from tests.factories import (
    AccountFactory,
    AlignmentFactory,
    AskFactory,
    DealFactory,
    EscalationFactory,
    FeatureRequestFactory,
    ThemeFactory,
)

pytestmark = pytest.mark.django_db

LOGIN = "login"
ROLES = ("anonymous", "sales", "product", "exec", "admin", "norole")


@dataclass(frozen=True)
class Rule:
    outcomes: dict[str, int | str]
    method: str = "get"
    kwargs: Callable[[dict], dict] = field(default=lambda samples: {})
    data: dict = field(default_factory=dict)


def only(*roles: str, ok: int = 200, denied: int = 403, admin: int | None = None) -> dict:
    """Outcomes of a page for the given roles: anonymous to sign-in, others ``denied``."""
    outcomes: dict[str, int | str] = {"anonymous": LOGIN}
    for role in ROLES[1:]:
        outcomes[role] = ok if role in roles else denied
    outcomes["admin"] = ok if admin is None else admin
    return outcomes


def everyone(status: int = 200, anonymous: int | str = LOGIN) -> dict:
    return {role: (anonymous if role == "anonymous" else status) for role in ROLES}


def admin_only(status: int = 200) -> dict:
    return only(admin=status)


def api_read() -> dict:
    """Every role reads the API; no role: 403; anonymous: 401."""
    return {**everyone(200), "norole": 403}


def api_write(*roles: str, ok: int = 400) -> dict:
    """Writes posted empty: the writing roles get the validation errors (400), others 403."""
    return only(*roles, ok=ok)


def pk_of(name: str) -> dict:
    return {"kwargs": lambda s: {"pk": s[name].pk}}


REQUEST_PK = pk_of("request")

RULES: dict[str, Rule] = {
    "home": Rule(everyone(302)),
    "no_role": Rule({**everyone(302), "norole": 403}),
    "healthz": Rule(everyone(200, anonymous=200)),
    "login": Rule({**everyone(302), "anonymous": 200}),
    "logout": Rule(everyone(302, anonymous=302), method="post"),
    "requests_app:my_requests": Rule(only("sales")),
    "requests_app:request_new": Rule(only("sales")),
    "requests_app:request_detail": Rule(only("sales", "product", "exec"), **REQUEST_PK),
    # Edit: the submitting rep only (the sample request is the sales user's own).
    "requests_app:request_edit": Rule(only("sales"), **REQUEST_PK),
    "requests_app:request_escalate": Rule(only("sales"), **REQUEST_PK),
    "requests_app:request_suggestions": Rule(only("sales")),
    "requests_app:account_options": Rule(only("sales")),
    "requests_app:deal_options": Rule(only("sales")),
    "requests_app:my_deals": Rule(only("sales")),
    # The old sponsor home redirects to the escalation queue.
    "requests_app:sponsor": Rule(only("exec", ok=302)),
    "requests_app:search": Rule(only("sales", "product", "exec")),
    "requests_app:notifications": Rule(everyone(200)),
    "requests_app:notifications_mark_read": Rule(everyone(302), method="post"),
    "strategy:board": Rule(only("product")),
    "strategy:board_matrix": Rule(only("product")),
    "strategy:board_export": Rule(only("product")),
    # Forms posted empty: the right role gets the form back with its errors (400).
    "strategy:board_bulk": Rule(only("product", ok=400), method="post"),
    "strategy:request_triage": Rule(only("product"), **REQUEST_PK),
    "strategy:request_why": Rule(only("product"), **REQUEST_PK),
    "strategy:request_score": Rule(only("product"), **REQUEST_PK),
    "strategy:request_decide": Rule(only("product", ok=400), method="post", **REQUEST_PK),
    "strategy:request_alignments": Rule(only("product", ok=400), method="post", **REQUEST_PK),
    "strategy:request_inputs": Rule(only("product", ok=400), method="post", **REQUEST_PK),
    "strategy:request_merge": Rule(only("product", ok=400), method="post", **REQUEST_PK),
    "strategy:strategy": Rule(only("product")),
    "strategy:theme_new": Rule(only("product", ok=400), method="post"),
    "strategy:theme_edit": Rule(only("product"), kwargs=lambda s: {"pk": s["theme"].pk}),
    "strategy:policy_whatif": Rule(only("product", ok=400), method="post"),
    "strategy:policy_save": Rule(only("product", ok=400), method="post"),
    "strategy:recompute_progress": Rule(only("product")),
    "strategy:escalations": Rule(only("exec")),
    "strategy:escalation": Rule(only("exec"), kwargs=lambda s: {"pk": s["escalation"].pk}),
    "strategy:portfolio": Rule(only("exec")),
    "strategy:audit": Rule(only("exec")),
    # CRM imports: administrators (and staff) only.
    "requests_app:imports": Rule(admin_only()),
    "requests_app:import_job": Rule(admin_only(), **pk_of("import_job")),
    # The API: anonymous gets 401, no role 403, every role reads, writers per resource.
    "api:token": (Rule(everyone(405, anonymous=405)),),
    "api:crm-deals-webhook": (
        # No shared secret configured: the inbound hook refuses everyone.
        Rule(everyone(401, anonymous=401), method="post"),
    ),
    "api:account-list": (Rule(api_read()), Rule(api_write("sales"), method="post")),
    "api:account-detail": (Rule(api_read(), **pk_of("account")),),
    "api:deal-list": (Rule(api_read()), Rule(api_write("sales"), method="post")),
    "api:deal-detail": (Rule(api_read(), **pk_of("deal")),),
    "api:ask-list": (Rule(api_read()), Rule(api_write("sales"), method="post")),
    "api:ask-detail": (Rule(api_read(), **pk_of("ask")),),
    "api:escalation-list": (Rule(api_read()), Rule(api_write("sales"), method="post")),
    "api:escalation-detail": (Rule(api_read(), **pk_of("escalation")),),
    "api:escalation-resolve": (Rule(api_write("exec"), method="post", **pk_of("escalation")),),
    "api:webhook-list": (
        Rule(admin_only()),
        Rule(admin_only(400), method="post"),
    ),
    "api:webhook-detail": (Rule(admin_only(), **pk_of("webhook")),),
    "api:webhook-deliveries": (Rule(admin_only(), **pk_of("webhook")),),
    "api:request-list": (Rule(api_read()), Rule(api_write("sales"), method="post")),
    "api:request-detail": (Rule(api_read(), **REQUEST_PK),),
    "api:request-score": (Rule(api_read(), **REQUEST_PK),),
    "api:request-decisions": (
        Rule(api_read(), **REQUEST_PK),
        Rule(api_write("product"), method="post", **REQUEST_PK),
    ),
    "api:theme-list": (Rule(api_read()), Rule(api_write("product"), method="post")),
    "api:theme-detail": (Rule(api_read(), **pk_of("theme")),),
    "api:alignment-list": (Rule(api_read()), Rule(api_write("product"), method="post")),
    "api:alignment-detail": (Rule(api_read(), **pk_of("alignment")),),
    "api:policy": (Rule(api_read()),),
    # The OpenAPI schema and its interactive docs are public, like the API's own documentation.
    "schema": Rule(everyone(200, anonymous=200)),
    "api-docs": Rule(everyone(200, anonymous=200)),
}
# The Django admin: staff only. Its index, every change list and every add form are checked;
# the object pages go through the same ``admin_view`` guard.
ADMIN_NAMESPACE = "admin"
ADMIN_OUTCOMES = {**everyone(302, anonymous=302), "admin": 200}
# Admin pages that even a superuser may not use: the audit trail is append-only.
# Import jobs and webhook deliveries are records of what happened, made by the system.
ADMIN_FORBIDDEN = {
    "admin:requests_app_auditevent_add",
    "admin:requests_app_importjob_add",
    "admin:requests_app_webhookdelivery_add",
}


def _patterns(resolver=None, namespace: str = "", prefix: str = ""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            yield from _patterns(
                entry,
                f"{namespace}:{ns}".strip(":") if ns else namespace,
                prefix + str(entry.pattern),
            )
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}".strip(":") if entry.name else None
            yield name, prefix + str(entry.pattern), namespace


ALL = list(_patterns())


def test_every_url_pattern_has_a_rule():
    missing = [
        f"{name or '(unnamed)'} -> /{route}"
        for name, route, namespace in ALL
        if namespace.split(":")[0] != ADMIN_NAMESPACE and name not in RULES
    ]
    assert not missing, "URL patterns without a permission rule in RULES:\n" + "\n".join(missing)
    stale = set(RULES) - {name for name, _r, _n in ALL}
    assert not stale, f"rules for URL names that no longer exist: {sorted(stale)}"


@pytest.fixture
def samples(users):
    request = FeatureRequestFactory(created_by=users["sales"])
    account = AccountFactory()
    return {
        "request": request,
        "account": account,
        "deal": DealFactory(account=account),
        "ask": AskFactory(request=request, account=account),
        "theme": ThemeFactory(),
        "alignment": AlignmentFactory(request=request),
        "escalation": EscalationFactory(request=request, raised_by=users["sales"]),
        "webhook": WebhookSubscription.objects.create(
            url="http://127.0.0.1:9/hook", secret="s3cret", events=["request.created"]
        ),
        "import_job": ImportJob.objects.create(
            filename="deals.csv", content="name\n", created_by=users["admin"]
        ),
        **users,
    }


def _content_type(url: str) -> str:
    return "application/json" if url.startswith("/api/") else "application/x-www-form-urlencoded"


def _check(client, users, role: str, method: str, url: str, expected, data=None):
    client.logout()
    if role != "anonymous":
        client.force_login(users[role])
    if method == "get":
        response = client.get(url)
    else:
        response = getattr(client, method)(url, data or {}, content_type=_content_type(url))
    where = f"{role} {method.upper()} {url}"
    if expected == LOGIN:
        if url.startswith("/api/"):
            assert response.status_code == 401, where
        else:
            assert response.status_code == 302, where
            assert response["Location"].startswith(reverse("login")), where
    else:
        assert response.status_code == expected, f"{where}: {response.status_code}"


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule(client, users, samples, name):
    rules = RULES[name] if isinstance(RULES[name], tuple) else (RULES[name],)
    for rule in rules:
        url = reverse(name, kwargs=rule.kwargs(samples))
        for role in ROLES:
            _check(client, users, role, rule.method, url, rule.outcomes[role], rule.data)


ADMIN_PAGES = sorted(
    name
    for name, route, namespace in ALL
    if namespace == ADMIN_NAMESPACE
    and name
    and (name == "admin:index" or name.endswith(("_changelist", "_add")))
)


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_is_for_staff_only(client, users, name):
    url = reverse(name)
    for role in ROLES:
        client.logout()
        if role != "anonymous":
            client.force_login(users[role])
        response = client.get(url)
        expected = ADMIN_OUTCOMES[role]
        if role == "admin" and name in ADMIN_FORBIDDEN:
            expected = 403
        assert response.status_code == expected, f"{role} {url}"
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("admin:login")), f"{role} {url}"
