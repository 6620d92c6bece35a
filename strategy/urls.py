from django.urls import path

from . import executive_views, views

app_name = "strategy"

urlpatterns = [
    path("board/", views.board, name="board"),
    path("strategy/", views.strategy, name="strategy"),
    path("escalations/", executive_views.escalation_queue, name="escalations"),
    path("escalations/<int:pk>/", executive_views.escalation_detail, name="escalation"),
    path("portfolio/", executive_views.portfolio, name="portfolio"),
    path("audit/", executive_views.audit_log, name="audit"),
]
