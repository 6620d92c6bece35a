"""REST endpoints for requests (with their scores), themes, alignments and the scoring policy.

Requests live here rather than in ``requests_app`` because each one carries its score, which is
this app's. Anyone with a role may read. Sales submit requests; Product sets effort, themes,
alignments and the policy; superusers may do everything.
"""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from requests_app import services as request_services
from requests_app.models import FeatureRequest, RequestStatus
from triage.api import ReadAny, writers
from triage.roles import PRODUCT, SALES

from .. import services
from ..models import StrategicTheme, ThemeAlignment
from . import serializers as s


@extend_schema_field(OpenApiTypes.INT)
class ThemeIdFilter(django_filters.ModelChoiceFilter):
    """A theme given by its id; an unknown id is a 400, like every other filter value."""


class RequestFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RequestStatus.choices)
    theme = ThemeIdFilter(
        queryset=StrategicTheme.objects.all(),
        method="filter_theme",
        label="id of a theme the request is aligned with (weak or more)",
    )
    created_by = django_filters.CharFilter(field_name="created_by__username")

    class Meta:
        model = FeatureRequest
        fields = ["status", "product_area", "theme", "created_by", "merged_into"]

    def filter_theme(self, queryset, name, value):
        aligned = ThemeAlignment.objects.filter(request=OuterRef("pk"), theme=value, strength__gt=0)
        return queryset.filter(Exists(aligned))


class RequestViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Feature requests with their score. ``POST`` (Sales) submits a request with its first ask;
    ``PATCH`` (Product) sets the effort estimate."""

    serializer_class = s.RequestSerializer
    filterset_class = RequestFilter
    ordering_fields = ["created_at", "id", "score__total", "title"]
    ordering = ["-created_at", "-id"]
    # The score and the submitter per row come in the same query (no N+1).
    queryset = FeatureRequest.objects.select_related("score", "created_by")

    def get_permissions(self):
        if self.action == "create":
            return [writers(SALES)()]
        if self.action == "partial_update":
            return [writers(PRODUCT)()]
        return [ReadAny()]

    @extend_schema(request=s.RequestSubmitSerializer, responses={201: s.RequestSerializer})
    def create(self, request):
        data = s.RequestSubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        feature_request = request_services.request_submit(actor=request.user, **data.validated_data)
        feature_request = self.get_queryset().get(pk=feature_request.pk)
        return Response(s.RequestSerializer(feature_request).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.RequestEffortSerializer,
        responses={
            200: s.RequestSerializer,
            409: OpenApiResponse(description="The request changed since expected_version."),
        },
    )
    def partial_update(self, request, pk=None):
        feature_request = self.get_object()
        data = s.RequestEffortSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.request_effort_set(
            actor=request.user, request=feature_request, **data.validated_data
        )
        feature_request = self.get_queryset().get(pk=feature_request.pk)
        return Response(s.RequestSerializer(feature_request).data)

    @extend_schema(responses=s.ScoreSerializer)
    @action(detail=True, methods=["get"], filter_backends=[])
    def score(self, request, pk=None):
        """The request's score and its explanation (zero and ``stale`` until first computed)."""
        feature_request = self.get_object()
        return Response(s.ScoreSerializer(s.score_of(feature_request)).data)


class ThemeFilter(django_filters.FilterSet):
    class Meta:
        model = StrategicTheme
        fields = ["active", "horizon"]


class ThemeViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Strategic themes; Product creates and edits them (a theme is switched off, not deleted)."""

    serializer_class = s.ThemeSerializer
    permission_classes = [writers(PRODUCT)]
    filterset_class = ThemeFilter
    ordering_fields = ["name", "weight", "id"]
    ordering = ["-active", "-weight", "name"]
    queryset = StrategicTheme.objects.all()

    def perform_create(self, serializer):
        serializer.instance = services.theme_create(
            actor=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = services.theme_update(
            actor=self.request.user, theme=serializer.instance, **serializer.validated_data
        )


class AlignmentFilter(django_filters.FilterSet):
    class Meta:
        model = ThemeAlignment
        fields = ["request", "theme", "strength"]


class AlignmentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """How strongly requests serve themes. ``POST`` (Product) sets the strength of a (request,
    theme) pair, creating or changing the row; strength 0 removes it (204)."""

    serializer_class = s.AlignmentSerializer
    permission_classes = [writers(PRODUCT)]
    filterset_class = AlignmentFilter
    ordering_fields = ["id", "strength"]
    ordering = ["id"]
    queryset = ThemeAlignment.objects.all()

    @extend_schema(
        request=s.AlignmentSerializer,
        responses={
            200: s.AlignmentSerializer,
            204: OpenApiResponse(description="Strength 0: the alignment was removed."),
        },
    )
    def create(self, request):
        data = s.AlignmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.alignment_set(actor=request.user, **data.validated_data)
        if row is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(s.AlignmentSerializer(row).data)


class PolicyView(GenericAPIView):
    """``policy/``: the scoring policy in force. ``PATCH`` (Product) with a ``reason`` and the
    parameters to change creates the next version; scores are recomputed in the background."""

    permission_classes = [writers(PRODUCT)]
    serializer_class = s.PolicySerializer
    filter_backends: list = []
    pagination_class = None

    @extend_schema(responses=s.PolicySerializer)
    def get(self, request):
        return Response(s.PolicySerializer(services.policy_current()).data)

    @extend_schema(request=s.PolicyUpdateSerializer, responses=s.PolicySerializer)
    def patch(self, request):
        data = s.PolicyUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        reason = changes.pop("reason")
        policy = services.policy_update(actor=request.user, reason=reason, **changes)
        return Response(s.PolicySerializer(policy).data)
