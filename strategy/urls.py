from django.urls import path

from . import views

app_name = "strategy"

urlpatterns = [
    path("board/", views.board, name="board"),
    path("strategy/", views.strategy, name="strategy"),
]
