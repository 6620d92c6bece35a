from django.urls import path

from . import executive_views, views

app_name = "strategy"

urlpatterns = [
    path("board/", views.board, name="board"),
    path("board/matrix/", views.board_matrix, name="board_matrix"),
    path("board/export.csv", views.board_export, name="board_export"),
    path("board/bulk/", views.board_bulk, name="board_bulk"),
    path("board/requests/<int:pk>/", views.request_triage, name="request_triage"),
    path("board/requests/<int:pk>/why/", views.request_why, name="request_why"),
    path("board/requests/<int:pk>/score/", views.request_score, name="request_score"),
    path("board/requests/<int:pk>/decide/", views.request_decide, name="request_decide"),
    path(
        "board/requests/<int:pk>/alignments/", views.request_alignments, name="request_alignments"
    ),
    path("board/requests/<int:pk>/inputs/", views.request_inputs, name="request_inputs"),
    path("board/requests/<int:pk>/merge/", views.request_merge, name="request_merge"),
    path("strategy/", views.strategy, name="strategy"),
    path("strategy/themes/new/", views.theme_new, name="theme_new"),
    path("strategy/themes/<int:pk>/", views.theme_edit, name="theme_edit"),
    path("strategy/whatif/", views.policy_whatif, name="policy_whatif"),
    path("strategy/policy/", views.policy_save, name="policy_save"),
    path("strategy/progress/", views.recompute_progress, name="recompute_progress"),
    path("escalations/", executive_views.escalation_queue, name="escalations"),
    path("escalations/<int:pk>/", executive_views.escalation_detail, name="escalation"),
    path("portfolio/", executive_views.portfolio, name="portfolio"),
    path("audit/", executive_views.audit_log, name="audit"),
]
