"""Reading CRM exports: recognise the layout from the header, turn each row into plain values.

Pure functions, no database: :func:`parse_crm_file` returns the rows it could read and, for every
row it could not, the row number (as a spreadsheet shows it: the header is row 1), the column and
the reason. Writing is done by ``requests_app.services.crm_import``.

Layouts (recognised case-insensitively, with or without a UTF-8 byte order mark):

- Salesforce, API field names (Data Loader, Workbench): ``Id, AccountId, Name, StageName, Amount,
  Probability, CloseDate, OwnerId`` for opportunities; ``Id, Name, Type, AnnualRevenue,
  NumberOfEmployees, Industry`` for accounts.
- Salesforce, report labels: ``Opportunity ID, Opportunity Name, Account ID, Account Name, Stage,
  Amount, Probability (%), Close Date, Opportunity Owner``; ``Account ID, Account Name, Type, ...``.
- HubSpot: ``Record ID, Deal Name, Deal Stage, Close Date, Deal owner, Amount, Associated
  Company``; companies: ``Record ID, Company name, Lifecycle Stage, Number of Employees, ...``.
- Maven Analytics CRM: ``opportunity_id, sales_agent, product, account, deal_stage, engage_date,
  close_date, close_value`` and ``account, sector, year_established, revenue, employees, ...``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .models import STAGE_PROBABILITY, DealStage, Segment

ACCOUNTS = "accounts"
DEALS = "deals"


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "reason": self.reason}

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        if self.column:
            return f"{where}, column {self.column}: {self.reason}"
        return f"{where}: {self.reason}"


@dataclass
class AccountRow:
    row: int
    name: str
    external_id: str | None = None
    segment: str | None = None
    is_customer: bool | None = None
    arr: Decimal | None = None
    sector: str | None = None
    employees: int | None = None


@dataclass
class DealRow:
    row: int
    external_id: str | None
    name: str
    stage: str
    account_external_id: str | None = None
    account_name: str | None = None
    amount: Decimal | None = None
    probability: int | None = None
    close_date: dt.date | None = None
    owner: str | None = None
    # The columns the row was read from, for error messages written later.
    columns: dict[str, str] = field(default_factory=dict)


@dataclass
class ParsedFile:
    kind: str  # ACCOUNTS or DEALS; empty when the layout was not recognised
    layout: str
    rows: list = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total_rows: int = 0


@dataclass(frozen=True)
class Layout:
    name: str
    kind: str
    # canonical field -> the header that carries it (lower case)
    columns: dict[str, str]
    # headers (lower case) that must all be present for the layout to be recognised
    signature: tuple[str, ...]


LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "salesforce_api",
        DEALS,
        {
            "external_id": "id",
            "account_external_id": "accountid",
            "name": "name",
            "stage": "stagename",
            "amount": "amount",
            "probability": "probability",
            "close_date": "closedate",
            "owner": "ownerid",
        },
        ("id", "stagename"),
    ),
    Layout(
        "salesforce_report",
        DEALS,
        {
            "external_id": "opportunity id",
            "name": "opportunity name",
            "account_external_id": "account id",
            "account_name": "account name",
            "stage": "stage",
            "amount": "amount",
            "probability": "probability (%)",
            "close_date": "close date",
            "owner": "opportunity owner",
        },
        ("opportunity id", "stage"),
    ),
    Layout(
        "hubspot",
        DEALS,
        {
            "external_id": "record id",
            "name": "deal name",
            "stage": "deal stage",
            "close_date": "close date",
            "owner": "deal owner",
            "amount": "amount",
            "account_name": "associated company",
            "probability": "deal probability",
        },
        ("record id", "deal stage"),
    ),
    Layout(
        "maven_pipeline",
        DEALS,
        {
            "external_id": "opportunity_id",
            "owner": "sales_agent",
            "product": "product",
            "account_name": "account",
            "stage": "deal_stage",
            "close_date": "close_date",
            "amount": "close_value",
        },
        ("opportunity_id", "deal_stage"),
    ),
    Layout(
        "salesforce_api_accounts",
        ACCOUNTS,
        {
            "external_id": "id",
            "name": "name",
            "type": "type",
            "employees": "numberofemployees",
            "sector": "industry",
            "arr": "arr",
        },
        ("id", "name", "numberofemployees"),
    ),
    Layout(
        "salesforce_report_accounts",
        ACCOUNTS,
        {
            "external_id": "account id",
            "name": "account name",
            "type": "type",
            "employees": "employees",
            "sector": "industry",
            "arr": "arr",
        },
        ("account id", "account name"),
    ),
    Layout(
        "hubspot_companies",
        ACCOUNTS,
        {
            "external_id": "record id",
            "name": "company name",
            "lifecycle": "lifecycle stage",
            "employees": "number of employees",
            "sector": "industry",
            "arr": "arr",
        },
        ("record id", "company name"),
    ),
    Layout(
        "maven_accounts",
        ACCOUNTS,
        {"name": "account", "sector": "sector", "employees": "employees", "arr": "arr"},
        ("account", "sector", "employees"),
    ),
)

LAYOUT_LABELS = {
    "salesforce_api": "Salesforce opportunities (API field names)",
    "salesforce_report": "Salesforce opportunities report",
    "hubspot": "HubSpot deals",
    "maven_pipeline": "Maven CRM sales pipeline",
    "salesforce_api_accounts": "Salesforce accounts (API field names)",
    "salesforce_report_accounts": "Salesforce accounts report",
    "hubspot_companies": "HubSpot companies",
    "maven_accounts": "Maven CRM accounts",
    "webhook": "CRM webhook",
}

# Salesforce's standard opportunity stages, HubSpot's default pipeline (labels and internal ids),
# the Maven data set's stages and Triage's own names; keys are normalised with _stage_key.
STAGES: dict[str, str] = {
    "prospecting": DealStage.PROSPECTING,
    "qualification": DealStage.QUALIFICATION,
    "needs analysis": DealStage.QUALIFICATION,
    "discovery": DealStage.QUALIFICATION,
    "value proposition": DealStage.PROPOSAL,
    "id. decision makers": DealStage.PROPOSAL,
    "id decision makers": DealStage.PROPOSAL,
    "perception analysis": DealStage.PROPOSAL,
    "proposal/price quote": DealStage.PROPOSAL,
    "proposal/quote": DealStage.PROPOSAL,
    "proposal": DealStage.PROPOSAL,
    "negotiation/review": DealStage.NEGOTIATION,
    "negotiation": DealStage.NEGOTIATION,
    "closed won": DealStage.CLOSED_WON,
    "closed lost": DealStage.CLOSED_LOST,
    # HubSpot default pipeline: labels and internal ids
    "appointment scheduled": DealStage.PROSPECTING,
    "appointmentscheduled": DealStage.PROSPECTING,
    "qualified to buy": DealStage.QUALIFICATION,
    "qualifiedtobuy": DealStage.QUALIFICATION,
    "presentation scheduled": DealStage.PROPOSAL,
    "presentationscheduled": DealStage.PROPOSAL,
    "decision maker bought-in": DealStage.PROPOSAL,
    "decisionmakerboughtin": DealStage.PROPOSAL,
    "contract sent": DealStage.NEGOTIATION,
    "contractsent": DealStage.NEGOTIATION,
    "closedwon": DealStage.CLOSED_WON,
    "closedlost": DealStage.CLOSED_LOST,
    # Maven Analytics CRM
    "engaging": DealStage.QUALIFICATION,
    "won": DealStage.CLOSED_WON,
    "lost": DealStage.CLOSED_LOST,
    # Triage's own values
    "closed_won": DealStage.CLOSED_WON,
    "closed_lost": DealStage.CLOSED_LOST,
}

MAX_AMOUNT = Decimal("999999999999.99")  # what Deal.amount (14 digits, 2 decimals) can hold
_MONEY_NOISE = re.compile(r"[\s$€£,]|^(usd|eur|gbp)|(usd|eur|gbp)$", re.IGNORECASE)
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d")


class CellError(ValueError):
    """A cell that cannot be read; the message is the reason shown to the person importing."""


def _stage_key(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip().lower())


def parse_stage(value: str) -> str:
    """A CRM stage label or internal id as a Triage stage."""
    key = _stage_key(value)
    if not key:
        raise CellError("the stage is missing")
    try:
        return STAGES[key]
    except KeyError:
        raise CellError(f"unknown stage {value.strip()!r}") from None


def parse_money(value: str) -> Decimal | None:
    """``$1,250,000.00``, ``1250000``, ``USD 900``; blank is None. Negative amounts are refused."""
    text = value.strip()
    if not text:
        return None
    cleaned = _MONEY_NOISE.sub("", text)
    if cleaned.startswith("(") and cleaned.endswith(")") or cleaned.startswith("-"):
        raise CellError(f"amount cannot be negative: {text!r}")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise CellError(f"not an amount of money: {text!r}") from None
    if not amount.is_finite():
        raise CellError(f"not an amount of money: {text!r}")
    if amount > MAX_AMOUNT:
        raise CellError(f"amount too large: {text!r}")
    return amount.quantize(Decimal("0.01"))


def parse_date(value: str) -> dt.date | None:
    """ISO (``2026-12-15``), US (``12/15/2026``) or either with a time; blank is None."""
    text = value.strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("+0000", "+00:00")).date()
    except ValueError:
        pass
    date_part = text.split("T")[0].split(" ")[0]
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(date_part, fmt).date()
        except ValueError:
            continue
    raise CellError(f"not a date: {text!r} (use 2026-12-15 or 12/15/2026)")


def parse_probability(value: str) -> int | None:
    """``75``, ``75%`` or ``75.0``; blank is None (the stage default applies)."""
    text = value.strip().rstrip("%").strip()
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise CellError(f"not a probability: {value.strip()!r}") from None
    if not number.is_finite() or number < 0 or number > 100:
        raise CellError(f"probability must be between 0 and 100, not {value.strip()!r}")
    return int(number.to_integral_value())


def parse_int(value: str) -> int | None:
    text = value.strip().replace(",", "")
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise CellError(f"not a whole number: {value.strip()!r}") from None
    if not number.is_finite() or number < 0 or number != number.to_integral_value():
        raise CellError(f"not a whole number: {value.strip()!r}")
    if number > 2_147_483_647:
        raise CellError(f"number too large: {value.strip()!r}")
    return int(number)


def segment_for(employees: int | None) -> str | None:
    """The segment an account falls in by head count (none when the head count is unknown)."""
    if employees is None:
        return None
    if employees < 1000:
        return Segment.SMB
    if employees <= 5000:
        return Segment.MID_MARKET
    return Segment.ENTERPRISE


def decode(data: bytes | str) -> str:
    """File bytes as text: UTF-8 (with or without a byte order mark), else Windows-1252."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def detect_layout(header: list[str]) -> Layout | None:
    """The layout whose signature columns are all in ``header`` (compared case-insensitively)."""
    names = {h.strip().lower() for h in header}
    for layout in LAYOUTS:
        if all(column in names for column in layout.signature):
            return layout
    return None


def parse_crm_file(data: bytes | str) -> ParsedFile:
    """Read a CRM export. Never raises for bad content: problems come back as ``errors``."""
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return ParsedFile("", "", errors=[RowError(0, "", "the file is empty")])
    except csv.Error as exc:
        return ParsedFile("", "", errors=[RowError(1, "", f"not a CSV file: {exc}")])
    layout = detect_layout(header)
    if layout is None:
        shown = ", ".join(h.strip() for h in header[:8])
        return ParsedFile(
            "",
            "",
            errors=[
                RowError(
                    1,
                    "",
                    f"unrecognised header ({shown}); expected a Salesforce, HubSpot or Maven "
                    "export of accounts or deals",
                )
            ],
        )
    index = {h.strip().lower(): i for i, h in enumerate(header)}
    positions = {
        canonical: (index[column], header[index[column]].strip())
        for canonical, column in layout.columns.items()
        if column in index
    }
    parsed = ParsedFile(layout.kind, layout.name)
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line += 1
            parsed.errors.append(RowError(line, "", f"unreadable line: {exc}"))
            continue
        line += 1
        if not any(c.strip() for c in cells):
            continue
        parsed.total_rows += 1
        values = {
            canonical: (cells[i] if i < len(cells) else "", column)
            for canonical, (i, column) in positions.items()
        }
        row_errors: list[RowError] = []
        reader_fn = _deal_row if layout.kind == DEALS else _account_row
        result = reader_fn(line, values, layout, row_errors)
        if row_errors:
            parsed.errors.extend(row_errors)
        else:
            parsed.rows.append(result)
    _reject_duplicate_ids(parsed)
    return parsed


def _cell(values: dict, key: str) -> str:
    return values.get(key, ("", ""))[0].strip()


def _column(values: dict, key: str, layout: Layout) -> str:
    return values.get(key, ("", layout.columns.get(key, key)))[1] or layout.columns.get(key, key)


def _read(values, key, layout, fn, errors, line):
    try:
        return fn(values.get(key, ("", ""))[0])
    except CellError as exc:
        errors.append(RowError(line, _column(values, key, layout), str(exc)))
        return None


def _deal_row(line: int, values: dict, layout: Layout, errors: list[RowError]) -> DealRow:
    stage = _read(values, "stage", layout, parse_stage, errors, line)
    amount = _read(values, "amount", layout, parse_money, errors, line)
    probability = _read(values, "probability", layout, parse_probability, errors, line)
    close_date = _read(values, "close_date", layout, parse_date, errors, line)
    external_id = _cell(values, "external_id") or None
    account_external_id = _cell(values, "account_external_id") or None
    account_name = _cell(values, "account_name") or None
    name = _cell(values, "name")
    if not name and layout.name == "maven_pipeline":
        product = _cell(values, "product")
        name = f"{account_name} · {product}" if account_name and product else product
    if not name:
        errors.append(RowError(line, _column(values, "name", layout), "the deal has no name"))
    if not external_id:
        errors.append(RowError(line, _column(values, "external_id", layout), "the deal has no id"))
    if not account_external_id and not account_name:
        column = _column(
            values,
            "account_name" if "account_name" in layout.columns else "account_external_id",
            layout,
        )
        errors.append(RowError(line, column, "the deal has no account"))
    if external_id and len(external_id) > 100:
        errors.append(RowError(line, _column(values, "external_id", layout), "id is too long"))
    return DealRow(
        row=line,
        external_id=external_id,
        name=name[:200],
        stage=stage or "",
        account_external_id=account_external_id,
        account_name=(account_name or "")[:200] or None,
        amount=amount,
        probability=probability,
        close_date=close_date,
        owner=_cell(values, "owner") or None,
        columns={k: _column(values, k, layout) for k in layout.columns},
    )


def _account_row(line: int, values: dict, layout: Layout, errors: list[RowError]) -> AccountRow:
    name = _cell(values, "name")
    if not name:
        errors.append(RowError(line, _column(values, "name", layout), "the account has no name"))
    employees = _read(values, "employees", layout, parse_int, errors, line)
    arr = _read(values, "arr", layout, parse_money, errors, line)
    is_customer: bool | None = None
    account_type = _cell(values, "type").lower()
    if account_type:
        is_customer = "customer" in account_type
    lifecycle = _cell(values, "lifecycle").lower()
    if lifecycle:
        is_customer = lifecycle in ("customer", "evangelist")
    external_id = _cell(values, "external_id") or None
    if external_id and len(external_id) > 100:
        errors.append(RowError(line, _column(values, "external_id", layout), "id is too long"))
    return AccountRow(
        row=line,
        name=name[:200],
        external_id=external_id,
        segment=segment_for(employees),
        is_customer=is_customer,
        arr=arr,
        sector=_cell(values, "sector")[:100] or None,
        employees=employees,
    )


def _reject_duplicate_ids(parsed: ParsedFile) -> None:
    """A file that lists the same record twice cannot be upserted unambiguously: keep the first."""
    seen: dict[str, int] = {}
    kept = []
    for row in parsed.rows:
        key = row.external_id or (row.name.lower() if parsed.kind == ACCOUNTS else None)
        if key is None:
            kept.append(row)
            continue
        if key in seen:
            column = "id" if row.external_id else "name"
            parsed.errors.append(
                RowError(row.row, column, f"the same record is already on row {seen[key]}")
            )
            continue
        seen[key] = row.row
        kept.append(row)
    parsed.rows = kept
    parsed.errors.sort(key=lambda e: e.row)


def stage_default_probability(stage: str) -> int:
    return STAGE_PROBABILITY[stage]


def parse_deal_records(records: list[dict]) -> ParsedFile:
    """Deals sent as JSON objects (the inbound CRM webhook), read with the same rules as files.

    Keys: ``external_id, name, stage, account_external_id, account_name, amount, probability,
    close_date, owner``; ``row`` in an error is the 1-based position in the list.
    """
    layout = Layout(
        "webhook",
        DEALS,
        {
            key: key
            for key in (
                "external_id",
                "name",
                "stage",
                "account_external_id",
                "account_name",
                "amount",
                "probability",
                "close_date",
                "owner",
            )
        },
        (),
    )
    parsed = ParsedFile(DEALS, "webhook")
    for position, record in enumerate(records, start=1):
        values = {key: (str(record.get(key) or ""), key) for key in layout.columns}
        errors: list[RowError] = []
        row = _deal_row(position, values, layout, errors)
        parsed.total_rows += 1
        if errors:
            parsed.errors.extend(errors)
        else:
            parsed.rows.append(row)
    _reject_duplicate_ids(parsed)
    return parsed
