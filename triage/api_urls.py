"""The REST API under /api/v1/: both apps' endpoints and the token endpoint."""

from django.urls import include, path

from .api_views import TokenView

app_name = "api"

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path("", include("requests_app.api.urls")),
    path("", include("strategy.api.urls")),
]
