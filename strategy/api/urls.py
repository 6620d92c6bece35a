from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("requests", views.RequestViewSet, basename="request")
router.register("themes", views.ThemeViewSet, basename="theme")
router.register("alignments", views.AlignmentViewSet, basename="alignment")

urlpatterns = [
    path("policy/", views.PolicyView.as_view(), name="policy"),
    *router.urls,
]
