"""The REST API under /api/v1/: both apps' endpoints and the token endpoint."""

from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

app_name = "api"

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="token"),
    path("", include("requests_app.api.urls")),
    path("", include("strategy.api.urls")),
]
