"""Small formatting helpers for the product pages."""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from triage.templatetags.triage_tags import ago, money_short, person, score, score_bar, status_chip

register = template.Library()


register.filter("person", person)  # the project's one name formatter


@register.filter
def absolute(value):
    """``-3`` → ``3``."""
    try:
        return abs(value)
    except TypeError:
        return value


@register.filter
def isoday(value) -> str:
    """An ISO date or datetime string from a stored explanation → ``Dec 15, 2026``."""
    import datetime as dt

    if not value:
        return ""
    try:
        parsed = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{parsed:%b} {parsed.day}, {parsed.year}"


SINGLE_DEAL_REASON = "One deal supplies most of the revenue at stake"


@register.simple_tag
def board_row(row, number: int, checked=frozenset()):
    """One board row and its (hidden) explanation row.

    Written here rather than in the template: the board renders 50 of these per view, and the
    template language spends most of a page view resolving their two dozen variables each.
    ``row`` comes from ``strategy.selectors.BoardRows`` (score, ranks and URLs attached).
    """
    s = getattr(row, "score", None)
    pk = row.pk
    meta = f"#{pk} · {row.get_product_area_display()} · {ago(row.created_at)}"
    if row.effort:
        meta += f" · {row.effort} pts"
    chips = []
    if s is not None and s.flag_single_deal:
        reason = getattr(row, "single_deal_reason", None) or SINGLE_DEAL_REASON
        chips.append(
            format_html('<span class="chip chip-flag" title="{}">single deal</span>', reason)
        )
    if s is not None and s.flag_strategic_no_demand:
        chips.append(mark_safe('<span class="chip chip-muted">strategic, no demand</span>'))
    if s is not None and s.flag_escalated:
        chips.append(mark_safe('<span class="chip chip-danger">escalated</span>'))
    if s is not None:
        stale = (
            mark_safe('<br><span class="chip chip-stale" title="The score is being recomputed">'
                      "updating</span>")
            if s.stale
            else ""
        )  # fmt: skip
        scores = format_html(
            '<td class="bar-fit" title="Strategic fit {}">{}</td>'
            '<td class="bar-breadth" title="Customer breadth {}">{}</td>'
            '<td class="bar-revenue" title="Revenue at stake {}">{}</td>'
            '<td class="num"><span class="score-num">{}</span>{}</td>',
            score(s.strategic_fit),
            score_bar(s.strategic_fit, "Strategic fit"),
            score(s.customer_breadth),
            score_bar(s.customer_breadth, "Customer breadth"),
            score(s.revenue_at_stake),
            score_bar(s.revenue_at_stake, "Revenue at stake"),
            score(s.total),
            stale,
        )
        accounts, pipeline = s.accounts_count, money_short(s.open_pipeline)
    else:
        scores = mark_safe(
            '<td colspan="3" class="muted">Not scored yet</td><td class="num">'
            '<span class="score-num">—</span><br><span class="chip chip-stale">updating</span></td>'
        )
        accounts, pipeline = 0, "—"
    gap = row.lens_gap
    if gap > 0:
        gap_html = format_html('<span class="gap-product">product +{}</span>', gap)
    elif gap < 0:
        gap_html = format_html('<span class="gap-sales">sales +{}</span>', -gap)
    else:
        gap_html = mark_safe('<span class="muted">lenses agree</span>')
    return format_html(
        "<tr>"
        '<td><input type="checkbox" name="ids" value="{pk}" form="bulk" aria-label="Select {title}"'
        "{checked}></td>"
        '<td class="num">{number}</td>'
        '<td class="title"><a href="{triage_url}">{title}</a> <span class="meta">{meta}</span>'
        "{chips}</td>"
        "{scores}"
        '<td class="num">{accounts}</td><td class="num">{pipeline}</td>'
        '<td class="lens"><span title="Rank by strategic fit + breadth">P #{product_rank}</span>'
        ' · <span title="Rank by revenue at stake">S #{sales_rank}</span><br>{gap}</td>'
        "<td>{status}</td>"
        '<td><a class="why-link" href="{why_url}" hx-get="{why_url}" hx-target="#why-{pk}" '
        'hx-swap="outerHTML" data-why="why-{pk}" aria-expanded="false" aria-controls="why-{pk}">'
        "Why?</a></td>"
        "</tr>"
        '<tr id="why-{pk}" class="why-row" hidden></tr>',
        pk=pk,
        title=row.title,
        checked=mark_safe(" checked") if str(pk) in checked else "",
        number=number,
        triage_url=row.triage_url,
        meta=meta,
        chips=format_html_join("", " {}", ((chip,) for chip in chips)),
        scores=scores,
        accounts=accounts,
        pipeline=pipeline,
        product_rank=row.product_rank,
        sales_rank=row.sales_rank,
        gap=gap_html,
        status=status_chip(row),
        why_url=row.why_url,
    )
