"""The board's lens snapshots: exact ranks and counts, reused only while the data is unchanged."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from requests_app.models import FeatureRequest, RequestStatus
from strategy import board_snapshot
from strategy.board_snapshot import data_generation, lens_snapshot
from strategy.models import RequestScore
from strategy.selectors import BoardFilters, board_page
from tests.conftest import require_postgres
from tests.factories import FeatureRequestFactory, UserFactory
from triage.roles import PRODUCT

from .board_helpers import scored


@pytest.fixture(autouse=True)
def _fresh_snapshots():
    board_snapshot.snapshots_forget()
    yield
    board_snapshot.snapshots_forget()


@pytest.mark.django_db
def test_ranks_count_strictly_higher_values_like_rank():
    scored("A", fit=40, breadth=40, revenue=10)
    scored("B", fit=30, breadth=50, revenue=90)  # ties A on the product lens
    scored("C", fit=10, breadth=10, revenue=90)  # ties B on the sales lens
    FeatureRequestFactory(title="Unscored")
    scored("Shipped", fit=100, breadth=100, revenue=100, status=RequestStatus.SHIPPED)
    snapshot = lens_snapshot("open")
    assert snapshot.count == 4  # the unscored request counts, the shipped one does not
    assert snapshot.ranks(80, 10) == (1, 3)
    assert snapshot.ranks(20, 90) == (3, 1)
    assert snapshot.ranks(0, 0) == (4, 4)  # unscored: below everyone who scored above 0
    assert snapshot.ranks(500, 500) == (1, 1)
    assert lens_snapshot("all").ranks(80, 10) == (2, 4)


@pytest.mark.django_db
def test_only_status_filtered_boards_use_a_snapshot():
    scored("A", fit=90, product_area="security")
    scored("B", fit=10, product_area="billing")
    page = board_page(BoardFilters())
    assert page.paginator.object_list.snapshot() is not None
    filtered = board_page(BoardFilters(product_area="billing"))
    assert filtered.paginator.object_list.snapshot() is None
    assert [(r.title, r.product_rank) for r in filtered.object_list] == [("B", 1)]


@pytest.mark.django_db
def test_a_snapshot_built_inside_a_transaction_is_not_kept():
    scored("A")
    first = lens_snapshot("open")
    assert connection.in_atomic_block  # the test's own transaction
    assert lens_snapshot("open") is not first


@pytest.mark.django_db(transaction=True)
def test_reused_while_unchanged_and_rebuilt_after_any_write(settings):
    require_postgres()
    settings.BOARD_RANKS_REFRESH_SECONDS = 0
    request = scored("A", fit=40, breadth=40, revenue=10)
    other = scored("B", fit=10, breadth=10, revenue=5)
    first = lens_snapshot("open")
    assert lens_snapshot("open") is first
    writes = [
        lambda: RequestScore.objects.filter(request=other).update(strategic_fit=90),
        lambda: FeatureRequest.objects.filter(pk=other.pk).update(status=RequestStatus.DECLINED),
        lambda: FeatureRequestFactory(title="New"),
        lambda: FeatureRequest.objects.filter(title="New").delete(),
    ]
    expected = [(2, 1), (1, 1), (1, 1), (1, 1)]
    expected_counts = [2, 1, 2, 1]
    previous = first
    for write, ranks, count in zip(writes, expected, expected_counts, strict=True):
        generation = data_generation()
        write()
        assert data_generation() > generation
        current = lens_snapshot("open")
        assert current is not previous
        assert current.ranks(80, 10) == ranks and current.count == count
        previous = current
    assert request.pk  # the request itself was never touched


@pytest.mark.django_db(transaction=True)
def test_under_a_stream_of_writes_a_process_rebuilds_at_most_once_per_interval(
    settings, monkeypatch
):
    require_postgres()
    settings.BOARD_RANKS_REFRESH_SECONDS = 30
    other = scored("B", fit=10, breadth=10, revenue=5)
    first = lens_snapshot("open")
    RequestScore.objects.filter(request=other).update(strategic_fit=90)
    assert lens_snapshot("open") is first  # changed, but rebuilt less than 30 s ago
    settings.BOARD_RANKS_REFRESH_SECONDS = 0
    assert lens_snapshot("open") is not first
    # Whatever the interval, a snapshot does not outlive its maximum lifetime.
    settings.BOARD_RANKS_REFRESH_SECONDS = 30
    monkeypatch.setattr(board_snapshot, "MAX_LIFETIME_SECONDS", 0.0)
    kept = lens_snapshot("open")
    assert lens_snapshot("open") is not kept


@pytest.mark.django_db(transaction=True)
def test_the_board_page_reads_a_current_snapshot_without_scanning(client):
    require_postgres()
    scored("Strategic", fit=90, breadth=10, revenue=10)
    scored("Deal", fit=10, breadth=10, revenue=90)
    client.force_login(UserFactory(roles=[PRODUCT]))
    assert client.get("/board/").status_code == 200  # builds this process's snapshot
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/board/")
    scans = [
        q["sql"]
        for q in queries.captured_queries
        if "float8send" in q["sql"]
        or "width_bucket" in q["sql"]
        or "COUNT(*)" in q["sql"]
        and "requests_app_featurerequest" in q["sql"]
    ]
    assert scans == []
    rows = {r.title: (r.product_rank, r.sales_rank) for r in response.context["page"]}
    assert rows == {"Strategic": (1, 2), "Deal": (2, 1)}
    assert "2 requests" in response.content.decode()


@pytest.mark.django_db
def test_vacuum_after_a_full_recompute_needs_postgres_outside_a_transaction():
    from strategy.services import scores_vacuum

    assert scores_vacuum() is False  # inside the test's transaction VACUUM cannot run


@pytest.mark.django_db(transaction=True)
def test_vacuum_after_a_full_recompute_reclaims_the_score_table():
    require_postgres()
    from strategy.services import scores_recompute, scores_vacuum

    FeatureRequestFactory.create_batch(3)
    scores_recompute()
    assert scores_vacuum() is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT last_vacuum, last_analyze FROM pg_stat_user_tables "
            "WHERE relname = 'strategy_requestscore'"
        )
        last_vacuum, last_analyze = cursor.fetchone()
    assert last_vacuum is not None and last_analyze is not None


@pytest.mark.django_db
def test_postgres_has_the_covering_index_the_snapshot_reads():
    require_postgres()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'score_lenses'")
        (definition,) = cursor.fetchone()
    assert "(request_id) INCLUDE (strategic_fit, customer_breadth, revenue_at_stake, total)" in (
        definition
    )
