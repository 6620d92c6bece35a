"""REST endpoints for accounts, deals, asks, decisions, escalations, webhooks and the CRM hook.

Views validate input, call a service and render; the rules live in ``requests_app.services``.
Anyone with a role may read; writes follow the pages' roles (Sales: accounts, deals, asks,
escalations; Product: decisions; Executive: resolving escalations; superusers: everything, and
alone manage webhook subscriptions).
"""

from __future__ import annotations

import django_filters
from django.conf import settings
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from triage.api import SuperuserOnly, writers
from triage.roles import EXECUTIVE, PRODUCT, SALES

from .. import services, webhooks
from ..importers import parse_deal_records
from ..models import (
    Account,
    Ask,
    Deal,
    Decision,
    Escalation,
    FeatureRequest,
    WebhookDelivery,
    WebhookSubscription,
)
from . import serializers as s

# --- Accounts --------------------------------------------------------------------------------


class AccountFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Account
        fields = ["external_id", "segment", "is_customer", "name"]


class AccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Customers and prospects. Sales may create and edit them."""

    serializer_class = s.AccountSerializer
    permission_classes = [writers(SALES)]
    filterset_class = AccountFilter
    ordering_fields = ["name", "arr", "id"]
    ordering = ["name", "id"]
    queryset = Account.objects.all()

    def perform_create(self, serializer):
        serializer.instance = services.account_create(
            actor=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.account_update(
            actor=self.request.user, account=serializer.instance, **serializer.validated_data
        )


# --- Deals -----------------------------------------------------------------------------------


class DealFilter(django_filters.FilterSet):
    is_open = django_filters.BooleanFilter(method="filter_open", label="open (not closed)")
    owner = django_filters.CharFilter(field_name="owner__username")

    class Meta:
        model = Deal
        fields = ["external_id", "account", "stage", "owner", "is_open"]

    def filter_open(self, queryset, name, value):
        return queryset.open() if value else queryset.exclude(pk__in=queryset.open().values("pk"))


class DealViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Opportunities. Sales create deals (owned by themselves unless they say otherwise) and edit
    the deals they own; superusers edit any."""

    serializer_class = s.DealSerializer
    permission_classes = [writers(SALES)]
    filterset_class = DealFilter
    ordering_fields = ["close_date", "amount", "name", "id"]
    ordering = ["close_date", "name", "id"]
    # account and owner per row would be one query each without these joins.
    queryset = Deal.objects.select_related("account", "owner")

    def _check_owner(self, owner) -> None:
        user = self.request.user
        if owner is not None and owner != user and not user.is_superuser:
            raise serializers.ValidationError({"owner": ["You can only own deals yourself."]})

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        owner = data.pop("owner", self.request.user)
        self._check_owner(owner)
        serializer.instance = services.deal_create(actor=self.request.user, owner=owner, **data)

    def perform_update(self, serializer):
        deal = serializer.instance
        user = self.request.user
        if deal.owner_id != user.pk and not user.is_superuser:
            raise PermissionDenied("Only the deal's owner can change it.")
        data = dict(serializer.validated_data)
        if "owner" in data:
            self._check_owner(data["owner"])
        if data.get("probability", 0) is None:
            data.pop("probability")
        serializer.instance = services.deal_update(actor=user, deal=deal, **data)


# --- Asks ------------------------------------------------------------------------------------


class AskFilter(django_filters.FilterSet):
    class Meta:
        model = Ask
        fields = ["request", "account", "deal", "importance"]


class AskViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The evidence behind requests. Sales add asks (an ask on a merged request goes to the
    request it was merged into)."""

    serializer_class = s.AskSerializer
    permission_classes = [writers(SALES)]
    filterset_class = AskFilter
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]
    queryset = Ask.objects.all()

    def perform_create(self, serializer):
        serializer.instance = services.ask_add(actor=self.request.user, **serializer.validated_data)


# --- Decisions -------------------------------------------------------------------------------


class RequestDecisionsView(GenericAPIView):
    """``requests/{id}/decisions/``: the decisions on a request, newest first; Product records
    new ones (the request's status follows the decision)."""

    serializer_class = s.DecisionSerializer
    permission_classes = [writers(PRODUCT)]
    filter_backends: list = []
    queryset = Decision.objects.select_related("decided_by")  # decider per row

    def _request(self) -> FeatureRequest:
        return get_object_or_404(FeatureRequest, pk=self.kwargs["pk"])

    @extend_schema(responses=s.DecisionSerializer(many=True))
    def get(self, request, pk: int):
        feature_request = self._request()
        page = self.paginate_queryset(
            self.get_queryset().filter(request=feature_request).order_by("-decided_at", "-pk")
        )
        return self.get_paginated_response(s.DecisionSerializer(page, many=True).data)

    @extend_schema(
        request=s.DecisionInputSerializer,
        responses={
            201: s.DecisionSerializer,
            409: OpenApiResponse(description="The request changed since expected_version."),
        },
    )
    def post(self, request, pk: int):
        feature_request = self._request()
        data = s.DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decision = services.decision_record(
            actor=request.user, request=feature_request, **data.validated_data
        )
        return Response(s.DecisionSerializer(decision).data, status=status.HTTP_201_CREATED)


# --- Escalations -----------------------------------------------------------------------------


class EscalationFilter(django_filters.FilterSet):
    class Meta:
        model = Escalation
        fields = ["status", "request", "outcome"]


class EscalationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Sales contest a decision (``POST escalations/``); an executive resolves it
    (``POST escalations/{id}/resolve/``)."""

    serializer_class = s.EscalationSerializer
    filterset_class = EscalationFilter
    ordering_fields = ["due_at", "created_at", "id"]
    ordering = ["due_at", "id"]
    # people per row, and the deals at stake for all rows in one query.
    queryset = Escalation.objects.select_related("raised_by", "resolved_by").prefetch_related(
        "deals"
    )

    def get_permissions(self):
        if self.action == "resolve":
            return [writers(EXECUTIVE)()]
        return [writers(SALES)()]

    @extend_schema(request=s.EscalationInputSerializer, responses={201: s.EscalationSerializer})
    def create(self, request):
        data = s.EscalationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        escalation = services.escalation_open(actor=request.user, **data.validated_data)
        escalation = self.get_queryset().get(pk=escalation.pk)
        return Response(s.EscalationSerializer(escalation).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.EscalationResolveSerializer,
        responses={
            200: s.EscalationSerializer,
            409: OpenApiResponse(description="Already resolved."),
        },
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        escalation = self.get_object()
        data = s.EscalationResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.escalation_resolve(
            actor=request.user, escalation=escalation, **data.validated_data
        )
        escalation = self.get_queryset().get(pk=escalation.pk)
        return Response(s.EscalationSerializer(escalation).data)


# --- Webhook subscriptions -------------------------------------------------------------------


class WebhookSubscriptionViewSet(viewsets.ModelViewSet):
    """Outbound webhook subscriptions (superusers only). Each delivery is signed like the inbound
    hook: ``X-Triage-Signature: sha256=HMAC(secret, "<X-Triage-Timestamp>.<body>")``."""

    serializer_class = s.WebhookSubscriptionSerializer
    permission_classes = [SuperuserOnly]
    filter_backends: list = []
    queryset = WebhookSubscription.objects.order_by("pk")
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    @extend_schema(responses=s.WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        subscription = self.get_object()
        # attempts for every delivery on the page in one query.
        rows = WebhookDelivery.objects.filter(subscription=subscription).prefetch_related("tries")
        page = self.paginate_queryset(rows.order_by("-created_at", "-pk"))
        return self.get_paginated_response(s.WebhookDeliverySerializer(page, many=True).data)


# --- Inbound CRM webhook ---------------------------------------------------------------------


class CrmDealsWebhookView(GenericAPIView):
    """``POST integrations/crm/deals/``: a CRM pushes deals; they are upserted by external id.

    Signed with the shared ``CRM_WEBHOOK_SECRET``: ``X-Triage-Timestamp`` (Unix seconds) and
    ``X-Triage-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">``. A wrong
    signature, or a timestamp more than 5 minutes away, gets 401 and nothing is written. All the
    deals are written or none (400 with the rejected rows); sending the same body again changes
    nothing.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    serializer_class = s.CrmDealsPayloadSerializer
    filter_backends: list = []

    @extend_schema(
        request=s.CrmDealsPayloadSerializer,
        parameters=[
            OpenApiParameter(
                webhooks.TIMESTAMP_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            ),
            OpenApiParameter(
                webhooks.SIGNATURE_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            ),
        ],
        responses={
            200: s.CrmImportResultSerializer,
            400: inline_serializer(
                "CrmWebhookRejected",
                {
                    "detail": serializers.CharField(),
                    "rows": serializers.ListField(child=serializers.DictField()),
                },
            ),
            401: OpenApiResponse(description="Missing, wrong or stale signature."),
        },
        auth=[],
    )
    def post(self, request):
        body = request.body
        if not webhooks.verify(
            secret=settings.CRM_WEBHOOK_SECRET,
            timestamp=request.headers.get(webhooks.TIMESTAMP_HEADER),
            signature=request.headers.get(webhooks.SIGNATURE_HEADER),
            body=body,
        ):
            return Response(
                {"detail": "Missing, wrong or expired signature."},
                status=status.HTTP_401_UNAUTHORIZED,
            )
        payload = s.CrmDealsPayloadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        parsed = parse_deal_records(payload.validated_data["deals"])
        with transaction.atomic():
            summary = services.crm_import(actor=None, parsed=parsed, all_or_nothing=True)
        if summary.errors:
            return Response(
                {
                    "detail": "Nothing was written: some deals were rejected.",
                    "rows": [e.as_dict() for e in summary.errors],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(summary.as_dict())
