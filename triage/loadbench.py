"""A small closed-loop HTTP load driver: virtual users on threads, each signed in as one role,
each repeating that role's journey with a think time between steps, for a bounded time.

No ORM here: it talks HTTP to a running server only, like a browser or an API client would.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TIMEOUT = 30


class LoadError(Exception):
    pass


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class Session:
    """One browser: a cookie jar and the CSRF token of the last form."""

    host: str
    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | None = None, **headers) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            all_headers = {**self.headers, **headers}
            if self.cookies:
                all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=all_headers)
            raw = conn.getresponse()
            data = raw.read()
            for value in raw.headers.get_all("Set-Cookie") or []:
                cookie = SimpleCookie()
                cookie.load(value)
                for key, morsel in cookie.items():
                    self.cookies[key] = morsel.value
            return Response(raw.status, data, {k.lower(): v for k, v in raw.getheaders()})
        finally:
            conn.close()

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post_form(self, path: str, data: dict | list) -> Response:
        return self.request(
            "POST",
            path,
            body=urlencode(data, doseq=True).encode(),
            **{
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRFToken": self.cookies.get("csrftoken", ""),
            },
        )

    def login(self, username: str, password: str) -> None:
        page = self.get("/accounts/login/")
        token = CSRF_INPUT.search(page.body.decode())
        if page.status != 200 or not token:
            raise LoadError(f"login page answered {page.status}")
        response = self.post_form(
            "/accounts/login/",
            {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
        )
        if response.status != 302 or "sessionid" not in self.cookies:
            raise LoadError(f"sign-in as {username} failed ({response.status})")


@dataclass
class Results:
    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error_examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.samples.setdefault(kind, []).append(seconds)
            if not ok:
                self.errors[kind] = self.errors.get(kind, 0) + 1
                if len(self.error_examples) < 10:
                    self.error_examples.append(f"{kind}: {detail}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100) of ``values``; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def timed(results: Results, kind: str, call, expect=(200,)) -> Response | None:
    start = time.perf_counter()
    try:
        response = call()
    except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
        results.record(kind, time.perf_counter() - start, False, f"{type(exc).__name__}: {exc}")
        return None
    ok = response.status in expect
    results.record(kind, time.perf_counter() - start, ok, f"HTTP {response.status}")
    return response if ok else None


# Journeys ---------------------------------------------------------------------------------------


def product_step(session: Session, rng: random.Random, results: Results, state: dict) -> None:
    """A product manager works the board: mostly the first page, sometimes deeper pages."""
    page = 1 if rng.random() < 0.7 else rng.randint(2, 20)
    timed(results, "board", lambda: session.get(f"/board/?page={page}"))


RADIO_ACCOUNT = re.compile(r'name="account" value="(\d+)"')
ACCOUNT_QUERIES = ["inc", "co", "an", "er", "on", "tech", "syn"]


def sales_step(session: Session, rng: random.Random, results: Results, state: dict) -> None:
    """A rep opens the request form, looks the account up (the form's search), and submits the
    request through the form with its CSRF token; when the form shows similar requests first,
    the rep confirms that theirs is new."""
    form = timed(results, "request_form", lambda: session.get("/requests/new/"))
    if form is None:
        return
    token = CSRF_INPUT.search(form.body.decode())
    accounts: list[str] = []
    # Like a rep typing the first letters of a name, and trying again when nothing matches.
    for query in [*rng.sample(ACCOUNT_QUERIES, 2), "a"]:
        found = timed(
            results,
            "account_search",
            lambda q=query: session.get(f"/requests/new/accounts/?account_query={q}"),
        )
        if found is None:
            return
        accounts = RADIO_ACCOUNT.findall(found.body.decode())
        if accounts:
            break
    if not token or not accounts:
        results.record("submit", 0.0, False, f"no CSRF token or no account for {query!r}")
        return
    state["n"] = state.get("n", 0) + 1
    data = {
        "csrfmiddlewaretoken": token.group(1),
        "title": f"Load test request {state['id']}-{state['n']} {rng.choice(WORDS)}",
        "problem": "Generated by bench_load: the customer re-keys "
        f"{rng.choice(WORDS)} data by hand every week.",
        "product_area": "reporting",
        "account": rng.choice(accounts),
        "importance": rng.choice(["nice_to_have", "important", "critical", "blocker"]),
    }
    sent = timed(
        results, "submit", lambda: session.post_form("/requests/new/", data), expect=(200, 302)
    )
    if sent is None or sent.status == 302:
        return
    if 'name="confirmed"' not in sent.body.decode():
        results.record("submit", 0.0, False, "the form came back with errors")
        return
    data["confirmed"] = "1"
    timed(
        results,
        "submit_confirm",
        lambda: session.post_form("/requests/new/", data),
        expect=(302,),
    )


WORDS = ["invoices", "routes", "audits", "contracts", "forecasts", "tickets", "payroll", "SSO"]


def api_step(session: Session, rng: random.Random, results: Results, state: dict) -> None:
    """An integration reads the request list through the API with a token."""
    page = rng.randint(1, 50)
    timed(results, "api_requests", lambda: session.get(f"/api/v1/requests/?page={page}"))


def exec_step(session: Session, rng: random.Random, results: Results, state: dict) -> None:
    timed(results, "escalations", lambda: session.get("/escalations/"))


STEPS = {"product": product_step, "sales": sales_step, "api": api_step, "exec": exec_step}


def api_token(session: Session, username: str, password: str) -> str:
    response = session.request(
        "POST",
        "/api/v1/auth/token/",
        body=json.dumps({"username": username, "password": password}).encode(),
        **{"Content-Type": "application/json"},
    )
    if response.status != 200:
        raise LoadError(f"token for {username}: HTTP {response.status}")
    return json.loads(response.body)["token"]


def run(
    *,
    host: str,
    port: int,
    plan: list[tuple[str, str, str]],
    duration: float,
    think: float,
    max_actions: int,
    seed: int = 1,
) -> tuple[Results, float]:
    """Drive ``plan`` (one (kind, username, password) per virtual user) for ``duration`` seconds
    or ``max_actions`` journeys in total, whichever comes first. Every user signs in (or gets an
    API token) before the clock starts. Returns the results and the measured wall time."""
    results = Results()
    sessions: list[tuple[str, Session]] = []
    setup_errors: list[str] = []

    # Password hashing is deliberately slow: sign in a few at a time, before the clock starts.
    gate = threading.Semaphore(4)

    def prepare(kind: str, username: str, password: str) -> None:
        session = Session(host, port)
        try:
            with gate:
                _prepare(session, kind, username, password)
        except Exception as exc:  # noqa: BLE001 - reported, the user is left out
            setup_errors.append(f"{kind} {username}: {exc}")
            return
        sessions.append((kind, session))

    def _prepare(session: Session, kind: str, username: str, password: str) -> None:
        if kind == "api":
            session.headers["Authorization"] = f"Token {api_token(session, username, password)}"
        else:
            session.login(username, password)

    threads = [threading.Thread(target=prepare, args=entry) for entry in plan]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if setup_errors:
        raise LoadError("; ".join(setup_errors[:5]))

    stop_at = time.monotonic() + duration
    budget = {"left": max_actions}
    budget_lock = threading.Lock()

    def user(index: int, kind: str, session: Session) -> None:
        rng = random.Random(seed * 1000 + index)  # noqa: S311 - load pattern, not security
        state = {"id": index}
        time.sleep(rng.uniform(0, think))  # spread the first requests
        while time.monotonic() < stop_at:
            with budget_lock:
                if budget["left"] <= 0:
                    return
                budget["left"] -= 1
            STEPS[kind](session, rng, results, state)
            time.sleep(rng.uniform(0.5 * think, 1.5 * think))

    started = time.perf_counter()
    workers = [
        threading.Thread(target=user, args=(i, kind, session), daemon=True)
        for i, (kind, session) in enumerate(sessions)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=max(0.0, stop_at - time.monotonic()) + TIMEOUT + 5)
    return results, time.perf_counter() - started


def summary(results: Results, elapsed: float) -> dict:
    kinds = {}
    total = 0
    for kind, values in sorted(results.samples.items()):
        total += len(values)
        kinds[kind] = {
            "count": len(values),
            "errors": results.errors.get(kind, 0),
            "rps": round(len(values) / elapsed, 2) if elapsed else 0,
            "p50_ms": round(percentile(values, 50) * 1000, 1),
            "p95_ms": round(percentile(values, 95) * 1000, 1),
            "p99_ms": round(percentile(values, 99) * 1000, 1),
        }
    return {
        "seconds": round(elapsed, 1),
        "requests": total,
        "throughput_rps": round(total / elapsed, 2) if elapsed else 0,
        "errors": sum(results.errors.values()),
        "kinds": kinds,
        "error_examples": results.error_examples,
    }
