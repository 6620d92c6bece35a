from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("accounts", views.AccountViewSet, basename="account")
router.register("deals", views.DealViewSet, basename="deal")
router.register("asks", views.AskViewSet, basename="ask")
router.register("escalations", views.EscalationViewSet, basename="escalation")
router.register("webhooks", views.WebhookSubscriptionViewSet, basename="webhook")

urlpatterns = [
    path(
        "requests/<int:pk>/decisions/",
        views.RequestDecisionsView.as_view(),
        name="request-decisions",
    ),
    path(
        "integrations/crm/deals/",
        views.CrmDealsWebhookView.as_view(),
        name="crm-deals-webhook",
    ),
    *router.urls,
]
