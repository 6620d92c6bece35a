"""Full export of the business data to JSON or CSV, and its import into an empty database.

The export holds everything the board and the decisions are built from: users (without password
hashes) with their roles, accounts, deals, themes, scoring policy versions, requests, asks,
alignments, decisions and escalations (with the deals at stake). Scores are not exported: they are
derived, and the import marks them for a recompute.

File format (JSON, ``format_version`` 1)::

    {"format": "triage-export", "format_version": 1, "exported_at": "...",
     "tables": {"users": [{...}, ...], "accounts": [...], ...}}

Every row carries its id and its relations as ids (``"account": 12``), named like the model fields.
The CSV form is one ``<table>.csv`` per table with the same columns; an empty cell is null for a
nullable field and the empty string otherwise.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.color import no_style
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from requests_app.models import (
    Account,
    Ask,
    AuditEvent,
    Deal,
    Decision,
    Escalation,
    FeatureRequest,
)
from triage.roles import ALL_ROLES

from .models import ScoringPolicy, StrategicTheme, ThemeAlignment

FORMAT = "triage-export"
FORMAT_VERSION = 1
USER_FIELDS = [
    "id",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
    "date_joined",
]
# Import order: every table after the tables it points to (the cycle between decisions and
# escalations, and requests merged into requests, is covered by deferred foreign keys).
TABLES: list[tuple[str, type[models.Model]]] = [
    ("accounts", Account),
    ("deals", Deal),
    ("themes", StrategicTheme),
    ("policies", ScoringPolicy),
    ("requests", FeatureRequest),
    ("asks", Ask),
    ("alignments", ThemeAlignment),
    ("decisions", Decision),
    ("escalations", Escalation),
]
ESCALATION_DEALS = "escalation_deals"
TABLE_NAMES = ["users", *(name for name, _ in TABLES), ESCALATION_DEALS]
MAX_REPORTED_ERRORS = 20


class ImportRefused(Exception):
    """The import was not done (the database is not empty, or the file is not a valid export).
    Nothing was written. The message says what is wrong, one line per problem."""


def _fields(model: type[models.Model]) -> list[models.Field]:
    return list(model._meta.concrete_fields)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _user_rows() -> Iterator[dict[str, Any]]:
    User = get_user_model()
    roles: dict[int, list[str]] = {}
    for user_id, name in User.groups.through.objects.filter(group__name__in=ALL_ROLES).values_list(
        "user_id", "group__name"
    ):
        roles.setdefault(user_id, []).append(name)
    for values in User.objects.order_by("pk").values_list(*USER_FIELDS):
        row = {name: _json_value(value) for name, value in zip(USER_FIELDS, values, strict=True)}
        row["roles"] = sorted(roles.get(row["id"], []))
        yield row


def _model_rows(model: type[models.Model]) -> Iterator[dict[str, Any]]:
    fields = _fields(model)
    names = [f.name for f in fields]
    queryset = model._default_manager.order_by("pk").values_list(*(f.attname for f in fields))
    for values in queryset.iterator(chunk_size=2000):
        yield {name: _json_value(value) for name, value in zip(names, values, strict=True)}


def _escalation_deal_rows() -> Iterator[dict[str, Any]]:
    through = Escalation.deals.through.objects.order_by("escalation_id", "deal_id")
    for escalation_id, deal_id in through.values_list("escalation_id", "deal_id"):
        yield {"escalation": escalation_id, "deal": deal_id}


def _table_rows(name: str) -> Iterator[dict[str, Any]]:
    if name == "users":
        return _user_rows()
    if name == ESCALATION_DEALS:
        return _escalation_deal_rows()
    return _model_rows(dict(TABLES)[name])


def _columns(name: str) -> list[str]:
    if name == "users":
        return [*USER_FIELDS, "roles"]
    if name == ESCALATION_DEALS:
        return ["escalation", "deal"]
    return [f.name for f in _fields(dict(TABLES)[name])]


def data_export(*, path: Path, fmt: str = "json") -> dict[str, int]:
    """Write the full export to ``path``: one JSON file, or (``fmt="csv"``) a directory with one
    CSV file per table (created when missing; existing files of the same names are replaced).

    Reads in one repeatable-read snapshot on PostgreSQL so the tables agree with each other even
    while people keep working. Returns the row count per table.
    """
    if fmt not in ("json", "csv"):
        raise ValueError(f"Unknown format {fmt!r}: use json or csv.")
    counts: dict[str, int] = {}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if fmt == "json":
            _export_json(path, counts)
        else:
            _export_csv(path, counts)
    return counts


def _export_json(path: Path, counts: dict[str, int]) -> None:
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
    }
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(header)[:-1] + ', "tables": {')
        for index, name in enumerate(TABLE_NAMES):
            out.write(("," if index else "") + f"\n{json.dumps(name)}: [")
            count = 0
            for row in _table_rows(name):
                out.write(("," if count else "") + "\n " + json.dumps(row, ensure_ascii=False))
                count += 1
            out.write("\n]")
            counts[name] = count
        out.write("\n}}\n")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _export_csv(path: Path, counts: dict[str, int]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name in TABLE_NAMES:
        columns = _columns(name)
        with (path / f"{name}.csv").open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(columns)
            count = 0
            for row in _table_rows(name):
                writer.writerow([_csv_cell(row.get(c)) for c in columns])
                count += 1
        counts[name] = count


# Import ---------------------------------------------------------------------------------------


@dataclass
class _Problems:
    lines: list[str]
    total: int = 0

    def add(self, message: str) -> None:
        self.total += 1
        if len(self.lines) < MAX_REPORTED_ERRORS:
            self.lines.append(message)


def read_export(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Read an export (a JSON file or a directory of CSV files) into tables of rows.

    Raises :class:`ImportRefused` with a clear message when the file cannot be read as an export.
    """
    if path.is_dir():
        return _read_csv_dir(path)
    try:
        with path.open(encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise ImportRefused(f"{path} does not exist.") from None
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"{path} is not UTF-8 text (byte {exc.start}).") from None
    except json.JSONDecodeError as exc:
        raise ImportRefused(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno})."
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ImportRefused(f'{path} is not a Triage export (no "format": "{FORMAT}").')
    if document.get("format_version") != FORMAT_VERSION:
        raise ImportRefused(
            f"{path} is export format version {document.get('format_version')!r}; "
            f"this version of Triage reads version {FORMAT_VERSION}."
        )
    tables = document.get("tables")
    if not isinstance(tables, dict):
        raise ImportRefused(f'{path} has no "tables" object.')
    for name, rows in tables.items():
        if name not in TABLE_NAMES:
            raise ImportRefused(f"Unknown table {name!r}; expected some of {TABLE_NAMES}.")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ImportRefused(f"Table {name!r} must be a list of objects.")
    return {name: tables.get(name, []) for name in TABLE_NAMES}


def _read_csv_dir(path: Path) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLE_NAMES}
    found = False
    for name in TABLE_NAMES:
        file = path / f"{name}.csv"
        if not file.exists():
            continue
        found = True
        try:
            with file.open(encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                unknown = set(reader.fieldnames or []) - set(_columns(name))
                if unknown:
                    raise ImportRefused(f"{file.name}: unknown columns {sorted(unknown)}.")
                tables[name] = [_csv_row(name, row) for row in reader]
        except UnicodeDecodeError as exc:
            raise ImportRefused(f"{file.name} is not UTF-8 text (byte {exc.start}).") from None
        except csv.Error as exc:
            raise ImportRefused(f"{file.name} is not valid CSV: {exc}.") from None
    if not found:
        raise ImportRefused(f"{path} holds none of the export's CSV files ({TABLE_NAMES[0]}.csv…).")
    return tables


def _csv_row(table: str, row: dict[str, str | None]) -> dict[str, Any]:
    if table == "users":
        roles = row.pop("roles", "") or ""
        out: dict[str, Any] = {key: (value if value != "" else None) for key, value in row.items()}
        out["roles"] = [r for r in roles.split("|") if r]
        return out
    if table == ESCALATION_DEALS:
        return dict(row)
    nullable = {f.name: f.null for f in _fields(dict(TABLES)[table])}
    return {
        key: (None if value == "" and nullable.get(key) else value) for key, value in row.items()
    }


def tables_with_data() -> list[str]:
    """The tables that already hold data (empty list: the database may receive an import).

    The default scoring policy that ``migrate`` creates does not count: the import replaces it.
    """
    busy = [name for name, model in TABLES if model is not ScoringPolicy and model.objects.exists()]
    policies = list(ScoringPolicy.objects.values_list("version", "created_by_id")[:2])
    if len(policies) > 1 or (policies and policies[0] != (1, None)):
        busy.append("policies")
    return busy


def _as_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("not an id")
    number = int(value)
    if number < 1:
        raise ValueError("not an id")
    return number


class _auto_timestamps_off:
    """Keep the exported created_at/updated_at: switch ``auto_now``/``auto_now_add`` off while the
    rows are inserted (the import runs alone in its own process)."""

    def __enter__(self):
        self.saved = []
        for _name, model in TABLES:
            for field in _fields(model):
                if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                    self.saved.append((field, field.auto_now, field.auto_now_add))
                    field.auto_now = field.auto_now_add = False
        return self

    def __exit__(self, *exc):
        for field, auto_now, auto_now_add in self.saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


def _build(
    table: str,
    model: type[models.Model],
    rows: list[dict[str, Any]],
    ids: dict[str, set[int]],
    user_ids: dict[int, int],
    problems: _Problems,
) -> list[models.Model]:
    fields = {f.name: f for f in _fields(model)}
    targets = {
        f.name: ("users" if f.related_model is get_user_model() else _table_of(f.related_model))
        for f in fields.values()
        if f.is_relation
    }
    stamped = [
        f
        for f in fields.values()
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    now = timezone.now()
    objects = []
    for number, row in enumerate(rows, start=1):
        where = f"{table} row {number}" + (f" (id {row.get('id')})" if "id" in row else "")
        unknown = set(row) - set(fields)
        if unknown:
            problems.add(f"{where}: unknown columns {sorted(unknown)}.")
            continue
        if row.get("id") in (None, ""):
            problems.add(f"{where}: id is missing.")
            continue
        values: dict[str, Any] = {}
        bad = False
        for name, value in row.items():
            field = fields[name]
            if name in targets:
                try:
                    ref = _as_id(value)
                except (TypeError, ValueError):
                    problems.add(f"{where}: {name}: {value!r} is not an id.")
                    bad = True
                    continue
                if ref is None:
                    if not field.null:
                        problems.add(f"{where}: {name}: is required.")
                        bad = True
                    values[field.attname] = None
                    continue
                target = targets[name]
                if target == "users":
                    if ref not in user_ids:
                        problems.add(f"{where}: {name}: user {ref} is not in the export.")
                        bad = True
                        continue
                    ref = user_ids[ref]
                elif target not in ids or ref not in ids[target]:
                    problems.add(f"{where}: {name}: {target} id {ref} is not in the export.")
                    bad = True
                    continue
                values[field.attname] = ref
            else:
                try:
                    values[field.attname] = field.to_python(value)
                except ValidationError as exc:
                    problems.add(f"{where}: {name}: {' '.join(exc.messages)}")
                    bad = True
        if bad:
            continue
        for field in stamped:  # a hand-written export may leave the timestamps out
            if values.get(field.attname) is None:
                values[field.attname] = now
        obj = model(**values)
        try:
            obj.clean_fields(exclude=list(targets))
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                problems.add(f"{where}: {name}: {' '.join(messages)}")
            continue
        objects.append(obj)
    return objects


def _table_of(model: type[models.Model]) -> str:
    for name, candidate in TABLES:
        if candidate is model:
            return name
    return model._meta.label_lower


def _collect_ids(tables: dict[str, list[dict[str, Any]]], problems: _Problems) -> dict[str, set]:
    ids: dict[str, set[int]] = {}
    for name, _model in TABLES:
        seen: set[int] = set()
        for number, row in enumerate(tables[name], start=1):
            try:
                pk = _as_id(row.get("id"))
            except (TypeError, ValueError):
                problems.add(f"{name} row {number}: id {row.get('id')!r} is not an id.")
                continue
            if pk is None:
                continue
            if pk in seen:
                problems.add(f"{name} row {number}: id {pk} appears twice.")
            seen.add(pk)
        ids[name] = seen
    return ids


def _import_users(rows: list[dict[str, Any]], problems: _Problems) -> tuple[dict[int, int], int]:
    """Users are matched by username: existing ones are kept as they are, missing ones are
    created with an unusable password (an administrator sets one, or they reset it)."""
    User = get_user_model()
    existing = dict(User.objects.values_list("username", "pk"))
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ALL_ROLES}
    mapping: dict[int, int] = {}
    created = 0
    for number, row in enumerate(rows, start=1):
        where = f"users row {number}"
        username = str(row.get("username") or "").strip()
        try:
            exported_id = _as_id(row.get("id"))
        except (TypeError, ValueError):
            exported_id = None
        if not username or exported_id is None:
            problems.add(f"{where}: needs an id and a username.")
            continue
        roles = row.get("roles") or []
        if not isinstance(roles, list) or not set(roles) <= set(ALL_ROLES):
            problems.add(f"{where}: roles must be some of {list(ALL_ROLES)}.")
            continue
        if username in existing:
            mapping[exported_id] = existing[username]
            continue
        user = User(username=username)
        for name in USER_FIELDS[2:]:
            if row.get(name) is not None:
                field = User._meta.get_field(name)
                try:
                    setattr(user, name, field.to_python(row[name]))
                except ValidationError as exc:
                    problems.add(f"{where}: {name}: {' '.join(exc.messages)}")
        try:
            user.clean_fields(exclude=["password"])
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                problems.add(f"{where}: {name}: {' '.join(messages)}")
            continue
        user.set_unusable_password()
        user.save()
        user.groups.add(*(groups[name] for name in roles))
        existing[username] = user.pk
        mapping[exported_id] = user.pk
        created += 1
    return mapping, created


def data_import(*, actor=None, tables: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Load an export (as returned by :func:`read_export`) into an empty database, in one
    transaction, keeping every id and relation.

    Contract:
    - Refuses (``ImportRefused``, nothing written) when any business table already holds rows;
      only the default scoring policy created by ``migrate`` may exist, and it is replaced.
    - Every row is validated like a form would (types, choices, ranges, lengths), and every
      relation must point at a row of the export; all problems are reported together, up to
      twenty lines, and nothing is written.
    - Users are matched by username (see ``_import_users``); ids of everything else are kept and
      the id sequences move past them, so new rows never collide.
    - Scores are not imported: call ``scores_recompute`` afterwards (the command does).
    Returns the count of rows imported per table, plus ``users_created``.
    """
    problems = _Problems(lines=[])
    try:
        with transaction.atomic():
            busy = tables_with_data()
            if busy:
                raise ImportRefused(
                    "The database is not empty (" + ", ".join(busy) + " hold data). Import only "
                    "into an empty database: create a new one and run migrate first."
                )
            counts = _import_all(tables, problems)
            if problems.total:
                raise ImportRefused(_problem_text(problems))
            AuditEvent.objects.create(
                actor=actor if getattr(actor, "is_authenticated", False) else None,
                verb="data.imported",
                object_type="triage.export",
                object_id=_digest(counts),
                object_repr="Full data import",
                after=counts,
            )
    except IntegrityError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportRefused(
            f"The database refused the data, nothing was imported: {first_line}"
        ) from None
    return counts


def _problem_text(problems: _Problems) -> str:
    more = problems.total - len(problems.lines)
    tail = f"\n… and {more} more." if more > 0 else ""
    return (
        f"The export has {problems.total} problem(s); nothing was imported.\n"
        + "\n".join(problems.lines)
        + tail
    )


def _digest(counts: dict[str, int]) -> str:
    return hashlib.sha256(json.dumps(counts, sort_keys=True).encode()).hexdigest()[:40]


def _import_all(tables: dict[str, list[dict[str, Any]]], problems: _Problems) -> dict[str, int]:
    ids = _collect_ids(tables, problems)
    user_ids, users_created = _import_users(tables.get("users", []), problems)
    built: dict[str, list[models.Model]] = {}
    for name, model in TABLES:
        built[name] = _build(name, model, tables.get(name, []), ids, user_ids, problems)
    through_rows = []
    Through = Escalation.deals.through
    for number, row in enumerate(tables.get(ESCALATION_DEALS, []), start=1):
        try:
            escalation_id, deal_id = _as_id(row.get("escalation")), _as_id(row.get("deal"))
        except (TypeError, ValueError):
            escalation_id = deal_id = None
        if escalation_id not in ids["escalations"] or deal_id not in ids["deals"]:
            problems.add(f"{ESCALATION_DEALS} row {number}: escalation or deal not in the export.")
            continue
        through_rows.append(Through(escalation_id=escalation_id, deal_id=deal_id))
    if problems.total:
        return {}
    if built["policies"]:
        ScoringPolicy.objects.all().delete()
    counts: dict[str, int] = {"users": len(user_ids), "users_created": users_created}
    with _auto_timestamps_off():
        for name, model in TABLES:
            model.objects.bulk_create(built[name], batch_size=2000)
            counts[name] = len(built[name])
    Through.objects.bulk_create(through_rows, batch_size=2000)
    counts[ESCALATION_DEALS] = len(through_rows)
    statements = connection.ops.sequence_reset_sql(no_style(), [m for _n, m in TABLES])
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
    return counts
