"""Export and import: a full export re-imported into an empty database gives the same board."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from requests_app.models import Account, Ask, AuditEvent, Deal, Escalation, FeatureRequest
from strategy import selectors
from strategy.data_transfer import TABLE_NAMES, read_export
from strategy.models import ScoringPolicy, StrategicTheme
from strategy.services import scores_recompute
from triage.roles import ALL_ROLES

USER_REFERENCES = {"created_by", "owner", "decided_by", "raised_by", "resolved_by", "set_by"}


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _normalised(path: Path) -> dict[str, list[dict]]:
    """The export with user ids replaced by usernames (users are matched by name on import)."""
    tables = read_export(path)
    names = {row["id"]: row["username"] for row in tables["users"]}
    out = {"users": sorted(({**r, "id": None} for r in tables["users"]), key=str)}
    for name in TABLE_NAMES:
        if name == "users":
            continue
        out[name] = [
            {k: (names.get(v) if k in USER_REFERENCES else v) for k, v in row.items()}
            for row in tables[name]
        ]
    return out


@pytest.fixture
def seeded(transactional_db):
    """The demo company (transactional tests flush the role groups the migration created)."""
    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)
    call_command("seed_demo")


def _board() -> list:
    return list(selectors.board_rows().values_list("id", "score__total"))


def test_export_then_import_into_an_empty_database_gives_the_same_board(seeded, tmp_path, capsys):
    scores_recompute()
    board_before = _board()
    assert len(board_before) >= 40
    export = tmp_path / "triage.json"
    call_command("export_data", str(export))
    exported = _last_json(capsys)
    assert exported["requests"] == FeatureRequest.objects.count()
    assert exported["asks"] == Ask.objects.count()
    assert exported["escalation_deals"] >= 1

    call_command("flush", "--no-input")
    assert not FeatureRequest.objects.exists()
    call_command("import_data", str(export))
    imported = _last_json(capsys)

    for table in ("accounts", "deals", "requests", "asks", "decisions", "escalations", "themes"):
        assert imported[table] == exported[table], table
    assert imported["scores_computed"] == exported["requests"]
    assert _board() == board_before
    # every row and relation came back, ids included
    again = tmp_path / "again.json"
    call_command("export_data", str(again))
    assert _normalised(again) == _normalised(export)
    # sequences moved past the imported ids: new rows get fresh ids
    assert Account.objects.create(name="After import").pk > max(
        row["id"] for row in read_export(export)["accounts"]
    )
    assert AuditEvent.objects.filter(verb="data.imported").count() == 1


def test_csv_export_round_trips(seeded, tmp_path, capsys):
    directory = tmp_path / "csv"
    call_command("export_data", str(directory), "--format", "csv")
    counts = _last_json(capsys)
    assert sorted(p.name for p in directory.iterdir()) == sorted(f"{n}.csv" for n in TABLE_NAMES)
    header = (directory / "deals.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("id,account,name,amount,stage,probability,close_date")
    json_export = tmp_path / "triage.json"
    call_command("export_data", str(json_export))
    capsys.readouterr()

    call_command("flush", "--no-input")
    call_command("import_data", str(directory), "--no-recompute")
    imported = _last_json(capsys)
    assert imported["deals"] == counts["deals"]
    again = tmp_path / "again.json"
    call_command("export_data", str(again))
    assert _normalised(again) == _normalised(json_export)


def test_import_refuses_a_database_that_holds_data(seeded, tmp_path):
    export = tmp_path / "triage.json"
    call_command("export_data", str(export))
    requests_before = FeatureRequest.objects.count()
    with pytest.raises(CommandError, match="The database is not empty .*requests"):
        call_command("import_data", str(export))
    assert FeatureRequest.objects.count() == requests_before


def _minimal_export(tmp_path, **overrides) -> Path:
    document = {
        "format": "triage-export",
        "format_version": 1,
        "tables": {
            "users": [{"id": 7, "username": "rep", "roles": ["Sales"]}],
            "accounts": [{"id": 3, "name": "Acme", "is_customer": True, "arr": "1000.00"}],
            "deals": [
                {"id": 5, "account": 3, "name": "Renewal", "amount": "100", "probability": 50}
            ],
            "requests": [
                {
                    "id": 11,
                    "title": "SSO",
                    "problem": "Logins",
                    "product_area": "security",
                    "created_by": 7,
                }
            ],
            "asks": [{"id": 2, "request": 11, "account": 3, "deal": 5}],
        },
    }
    for table, rows in overrides.items():
        document["tables"][table] = rows
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.django_db(transaction=True)
def test_a_small_handwritten_export_imports_with_its_ids(tmp_path, capsys):
    call_command("import_data", str(_minimal_export(tmp_path)), "--no-recompute")
    counts = _last_json(capsys)
    assert counts["users_created"] == 1 and counts["asks"] == 1
    ask = Ask.objects.select_related("request__created_by").get(pk=2)
    assert (ask.request_id, ask.account_id, ask.deal_id) == (11, 3, 5)
    assert ask.request.created_by.username == "rep"
    assert not ask.request.created_by.has_usable_password()
    assert ask.request.created_by.groups.filter(name="Sales").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"deals": [{"id": 5, "account": 3, "name": "X", "amount": "-5", "probability": 50}]},
            "deals row 1 (id 5): amount: Ensure this value is greater than or equal to 0",
        ),
        (
            {"deals": [{"id": 5, "account": 3, "name": "X", "amount": "1e30", "probability": 5}]},
            "deals row 1 (id 5): amount: Ensure that there are no more than 14 digits",
        ),
        (
            {"deals": [{"id": 5, "account": 99, "name": "X", "amount": "1", "probability": 5}]},
            "deals row 1 (id 5): account: accounts id 99 is not in the export",
        ),
        (
            {"deals": [{"id": 5, "account": 3, "name": "X", "probability": 5, "close": "now"}]},
            "unknown columns ['close']",
        ),
        (
            {"deals": [{"id": 5, "account": 3, "name": "X", "probability": 5, "close_date": "x"}]},
            "close_date: “x” value has an invalid date format",
        ),
        (
            {"requests": [{"id": 11, "title": "T" * 300, "problem": "p", "product_area": "nope"}]},
            "Ensure this value has at most 200 characters",
        ),
        (
            {"accounts": [{"id": 3, "name": "'; DROP TABLE requests_app_account; --"}] * 2},
            "accounts row 2: id 3 appears twice",
        ),
    ],
)
def test_a_bad_export_is_refused_with_the_rows_named_and_nothing_written(
    tmp_path, overrides, message
):
    ScoringPolicy.objects.get_or_create(version=1)
    with pytest.raises(CommandError) as error:
        call_command("import_data", str(_minimal_export(tmp_path, **overrides)), "--no-recompute")
    assert message in str(error.value)
    assert "nothing was imported" in str(error.value)
    assert not Account.objects.exists() and not Deal.objects.exists()


@pytest.mark.django_db
def test_files_that_are_not_exports_are_refused_clearly(tmp_path):
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CommandError, match="is not UTF-8 text"):
        call_command("import_data", str(binary))
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "triage-export", ', encoding="utf-8")
    with pytest.raises(CommandError, match="is not valid JSON"):
        call_command("import_data", str(broken))
    other = tmp_path / "other.json"
    other.write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(CommandError, match="is not a Triage export"):
        call_command("import_data", str(other))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_data", str(tmp_path / "missing.json"))
    assert not StrategicTheme.objects.exists() and not Escalation.objects.exists()
