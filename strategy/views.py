from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render

from triage.roles import PRODUCT, role_required

from . import selectors
from .models import ScoringPolicy


@role_required(PRODUCT)
def board(request):
    page = Paginator(selectors.board_rows(), 50).get_page(request.GET.get("page"))
    return render(request, "strategy/board.html", {"page": page})


@role_required(PRODUCT)
def strategy(request):
    return render(
        request,
        "strategy/strategy.html",
        {"themes": selectors.themes_all(), "policy": ScoringPolicy.objects.first()},
    )
