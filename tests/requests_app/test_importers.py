"""Reading CRM exports: every header variant, money, dates, stages and row-level errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from requests_app.importers import (
    ACCOUNTS,
    DEALS,
    CellError,
    parse_crm_file,
    parse_date,
    parse_deal_records,
    parse_money,
    parse_probability,
    parse_stage,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1,250,000.00", Decimal("1250000.00")),
        ("1250000", Decimal("1250000.00")),
        (" 1,250 ", Decimal("1250.00")),
        ("USD 900", Decimal("900.00")),
        ("€12.5", Decimal("12.50")),
        ("", None),
    ],
)
def test_money(text, expected):
    assert parse_money(text) == expected


@pytest.mark.parametrize("text", ["12abc", "-5", "($100)", "1.2.3", "NaN", "9" * 20])
def test_bad_money(text):
    with pytest.raises(CellError):
        parse_money(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-15", dt.date(2026, 12, 15)),
        ("12/15/2026", dt.date(2026, 12, 15)),
        ("2024-01-19T09:42:24.000+0000", dt.date(2024, 1, 19)),
        ("2026-12-15 10:30:00", dt.date(2026, 12, 15)),
        ("12/15/2026 10:30 AM", dt.date(2026, 12, 15)),
        ("", None),
    ],
)
def test_dates(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["15/12/2026", "2026-13-01", "yesterday", "12/32/2026"])
def test_bad_dates(text):
    with pytest.raises(CellError):
        parse_date(text)


@pytest.mark.parametrize(
    ("label", "stage"),
    [
        ("Prospecting", "prospecting"),
        ("Needs Analysis", "qualification"),
        ("Discovery", "qualification"),
        ("Id. Decision Makers", "proposal"),
        ("Perception Analysis", "proposal"),
        ("Proposal/Price Quote", "proposal"),
        ("Value Proposition", "proposal"),
        ("Negotiation/Review", "negotiation"),
        ("Closed Won", "closed_won"),
        ("closed lost", "closed_lost"),
        ("Appointment Scheduled", "prospecting"),
        ("qualifiedtobuy", "qualification"),
        ("Presentation Scheduled", "proposal"),
        ("decisionmakerboughtin", "proposal"),
        ("Contract Sent", "negotiation"),
        ("closedwon", "closed_won"),
        ("Engaging", "qualification"),
        ("Won", "closed_won"),
    ],
)
def test_stages(label, stage):
    assert parse_stage(label) == stage


def test_unknown_stage():
    with pytest.raises(CellError, match="unknown stage 'Pending legal'"):
        parse_stage("Pending legal")


def test_probability():
    assert parse_probability("75%") == 75
    assert parse_probability("10.0") == 10
    assert parse_probability("") is None
    with pytest.raises(CellError):
        parse_probability("120")


SF_REPORT = (
    "Opportunity ID,Opportunity Name,Account Name,Stage,Amount,Probability (%),Close Date,"
    "Opportunity Owner\n"
    'OPP-1,Acme renewal,Acme,Negotiation/Review,"$1,250,000.00",,12/15/2026,Dana Brooks\n'
    "OPP-2,Globex pilot,Globex,Pending legal,100,,2026-12-01,\n"
    "OPP-3,Initech,Initech,Prospecting,12abc,,2026-13-01,\n"
    "OPP-4,,Initech,Prospecting,10,,,\n"
)


def test_salesforce_report_layout_with_row_errors():
    parsed = parse_crm_file(SF_REPORT.encode())
    assert (parsed.kind, parsed.layout, parsed.total_rows) == (DEALS, "salesforce_report", 4)
    [row] = parsed.rows
    assert row.external_id == "OPP-1" and row.stage == "negotiation"
    assert row.amount == Decimal("1250000.00") and row.close_date == dt.date(2026, 12, 15)
    assert row.probability is None and row.owner == "Dana Brooks" and row.account_name == "Acme"
    errors = [(e.row, e.column, e.reason) for e in parsed.errors]
    assert errors == [
        (3, "Stage", "unknown stage 'Pending legal'"),
        (4, "Amount", "not an amount of money: '12abc'"),
        (4, "Close Date", "not a date: '2026-13-01' (use 2026-12-15 or 12/15/2026)"),
        (5, "Opportunity Name", "the deal has no name"),
    ]


def test_hubspot_layout_with_bom_and_odd_case():
    text = (
        "\ufeffRECORD ID,deal name,Deal Stage,Close Date,Deal owner,Amount,Associated Company\n"
        "901,Big deal,contractsent,2026-11-30 00:00,sales,5000,Hooli\n"
        "902,Small deal,Qualified To Buy,11/30/2026,,,Hooli\n"
    )
    parsed = parse_crm_file(text.encode("utf-8"))
    assert parsed.layout == "hubspot" and not parsed.errors
    assert [r.stage for r in parsed.rows] == ["negotiation", "qualification"]
    assert parsed.rows[1].amount is None


def test_salesforce_api_layout_with_bom():
    text = (
        "\ufeffId,AccountId,Name,StageName,Amount,Probability,CloseDate,OwnerId\n"
        "006X,001X,Deal,Closed Won,10.5,100,2024-11-10,005X\n"
    )
    parsed = parse_crm_file(text.encode("utf-8"))
    assert parsed.layout == "salesforce_api"
    assert parsed.rows[0].account_external_id == "001X" and parsed.rows[0].probability == 100


@pytest.mark.parametrize(
    ("header", "layout"),
    [
        ("Id,Name,Type,NumberOfEmployees,Industry", "salesforce_api_accounts"),
        ("Account ID,Account Name,Type,Industry,Employees", "salesforce_report_accounts"),
        ("Record ID,Company name,Lifecycle Stage,Number of Employees", "hubspot_companies"),
        ("account,sector,year_established,revenue,employees", "maven_accounts"),
    ],
)
def test_account_layouts(header, layout):
    parsed = parse_crm_file(f"{header}\n".encode())
    assert (parsed.kind, parsed.layout) == (ACCOUNTS, layout)


def test_account_rows():
    text = (
        "Account ID,Account Name,Type,Employees,Industry\n"
        "A1,Acme,Customer - Direct,12000,Retail\n"
        "A2,Globex,Prospect,40,\n"
        "A3,Initech,,lots,\n"
        "A1,Acme again,,,\n"
    )
    parsed = parse_crm_file(text)
    acme, globex = parsed.rows
    assert (acme.is_customer, acme.segment, acme.employees) == (True, "enterprise", 12000)
    assert (globex.is_customer, globex.segment) == (False, "smb")
    assert [(e.row, e.column) for e in parsed.errors] == [(4, "Employees"), (5, "id")]


def test_unrecognised_header_and_empty_file():
    parsed = parse_crm_file(b"foo,bar\n1,2\n")
    assert parsed.kind == "" and "unrecognised header" in parsed.errors[0].reason
    assert parse_crm_file(b"").errors[0].reason == "the file is empty"


def test_windows_1252_file():
    text = "account,sector,employees\nCafé Ltd,retail,10\n".encode("cp1252")
    assert parse_crm_file(text).rows[0].name == "Café Ltd"


def test_json_records():
    parsed = parse_deal_records(
        [
            {"external_id": "D1", "name": "A", "stage": "Closed Won", "account_name": "Acme"},
            {"external_id": "D2", "name": "B", "stage": "??", "account_name": "Acme"},
        ]
    )
    assert len(parsed.rows) == 1
    assert [(e.row, e.column) for e in parsed.errors] == [(2, "stage")]
