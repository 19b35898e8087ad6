"""A/B tests over the API: create (staff), list, retrieve with snapshots and decisions, stop,
evaluate now, promote and roll back (staff), and the sample-size calculator."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from abtests import selectors, services
from abtests.filters import ABTestFilter
from abtests.models import ABTest
from abtests.serializers import (
    SETTINGS,
    ABTestDetailSerializer,
    ABTestSerializer,
    CreateABTestInput,
    ReasonInput,
    SampleSizeInput,
    SampleSizeSerializer,
    SnapshotSerializer,
)
from core.errors import NotFound
from core.permissions import IsStaff
from registry.selectors import model_version_list_by_name, registered_model_get


class ABTestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Live A/B and shadow tests of a model's production version against another version.
    List (?model=, ?status=, ?mode=); one test with its snapshots (the statistics at every
    evaluation) and its decision records."""

    filterset_class = ABTestFilter

    def get_queryset(self):
        tests = ABTest.objects.select_related(
            "registered_model", "champion", "challenger", "created_by"
        )
        if self.action == "retrieve":
            tests = tests.prefetch_related("snapshots", "decisions")
        return tests

    def get_serializer_class(self):
        return ABTestDetailSerializer if self.action == "retrieve" else ABTestSerializer

    def get_permissions(self):
        permissions = super().get_permissions()
        if self.action in ("create", "stop", "promote", "rollback", "start"):
            permissions.append(IsStaff())
        return permissions

    @extend_schema(request=CreateABTestInput, responses={201: ABTestSerializer})
    def create(self, request):
        """Start a test (staff only) of `challenger_version` against the model's production
        version; 409 while another test of the model runs."""
        params = CreateABTestInput(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        model = registered_model_get(data["model"])
        if model is None:
            raise NotFound(f"There is no model named {data['model']!r}.", field="model")
        challenger = (
            model_version_list_by_name(model.name)
            .select_related("registered_model")
            .filter(version=data["challenger_version"])
            .first()
        )
        if challenger is None:
            raise NotFound(
                f"Model {model.name!r} has no version {data['challenger_version']}.",
                field="challenger_version",
            )
        test = services.abtest_create(
            challenger=challenger,
            mode=data["mode"],
            actor=request.user,
            start=data["start"],
            **{k: data[k] for k in SETTINGS if k in data},
        )
        return Response(ABTestSerializer(test).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ABTestSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Start a draft (staff only)."""
        test = services.abtest_start(test=self.get_object(), actor=request.user)
        return Response(ABTestSerializer(test).data)

    def _with_reason(self, request, act) -> Response:
        params = ReasonInput(data=request.data)
        params.is_valid(raise_exception=True)
        test = act(
            test=self.get_object(), actor=request.user, reason=params.validated_data["reason"]
        )
        return Response(ABTestSerializer(test).data)

    @extend_schema(request=ReasonInput, responses=ABTestSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        """Stop a running test (staff only); nothing is promoted."""
        return self._with_reason(request, services.abtest_stop)

    @extend_schema(request=None, responses={200: SnapshotSerializer, 409: None})
    @action(detail=True, methods=["post"])
    def evaluate(self, request, pk=None):
        """Evaluate now: a new snapshot (and a decision if one is due). 409 when the test
        neither runs nor watches a promotion."""
        test = self.get_object()
        snapshot = services.abtest_evaluate(test_id=test.pk, actor=request.user)
        if snapshot is None:
            test.refresh_from_db()
            return Response(
                {
                    "error": "conflict",
                    "detail": f"{test} is {test.get_status_display().lower()}; "
                    "there is nothing to evaluate.",
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(SnapshotSerializer(snapshot).data)

    @extend_schema(request=ReasonInput, responses=ABTestSerializer)
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        """Promote the challenger by hand (staff only), with the latest snapshot as evidence."""
        return self._with_reason(request, services.abtest_promote)

    @extend_schema(request=ReasonInput, responses=ABTestSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        """Put the old champion back in production (staff only)."""
        return self._with_reason(request, services.abtest_rollback)


class SampleSizeView(APIView):
    """Labelled rows per arm for a fixed-horizon test, and the sequential test's expected
    stopping point, from the baseline accuracy, the effect to detect, alpha, power and the
    challenger's share."""

    @extend_schema(parameters=[SampleSizeInput], responses=SampleSizeSerializer)
    def get(self, request):
        params = SampleSizeInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(selectors.sample_size_answer(**params.validated_data))
