"""Monitoring over the API: drift monitors and checks (run now on the prediction-log window
or on an uploaded CSV), performance snapshots, events, webhooks, and costs (records, rates,
the report)."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.csvfiles import human_bytes
from core.errors import InvalidInput, NotFound
from core.permissions import IsStaff
from core.uploads import upload_too_large
from monitoring import selectors, services
from monitoring.filters import (
    CostRecordFilter,
    DriftCheckFilter,
    DriftMonitorFilter,
    EventFilter,
    PerformanceSnapshotFilter,
)
from monitoring.models import (
    CostRate,
    CostRecord,
    DriftCheck,
    DriftMonitor,
    Event,
    PerformanceSnapshot,
    Webhook,
)
from monitoring.serializers import (
    CostRateSerializer,
    CostRecordSerializer,
    CostReportInput,
    CostReportSerializer,
    CreateDriftCheckInput,
    DriftCheckDetailSerializer,
    DriftCheckSerializer,
    DriftMonitorSerializer,
    DriftMonitorUpdateInput,
    EventSerializer,
    PerformanceSnapshotSerializer,
    RetrainingSerializer,
    WebhookCreatedSerializer,
    WebhookDeliverySerializer,
    WebhookInput,
    WebhookSerializer,
)
from registry.selectors import registered_model_get


class DriftMonitorViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """One drift monitor per model: schedule, window, engine, thresholds, retraining policy.
    Changing one (staff only) re-syncs its Beat schedule."""

    serializer_class = DriftMonitorSerializer
    filterset_class = DriftMonitorFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return DriftMonitor.objects.select_related("registered_model")

    def get_permissions(self):
        permissions = super().get_permissions()
        if self.action in ("partial_update", "retrain"):
            permissions.append(IsStaff())
        return permissions

    @extend_schema(request=None, responses={201: RetrainingSerializer})
    @action(detail=True, methods=["post"])
    def retrain(self, request, pk=None):
        """Retrain the model now (staff only): production's training data plus its recent
        labelled predictions; the challenger lands in staging. 409 while one is in flight or
        with too few labelled predictions."""
        retraining = services.retraining_start(monitor=self.get_object(), actor=request.user)
        return Response(RetrainingSerializer(retraining).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DriftMonitorUpdateInput, responses=DriftMonitorSerializer)
    def partial_update(self, request, pk=None):
        params = DriftMonitorUpdateInput(data=request.data, partial=True)
        params.is_valid(raise_exception=True)
        monitor = services.drift_monitor_save(monitor=self.get_object(), **params.validated_data)
        return Response(DriftMonitorSerializer(monitor).data)


class DriftCheckViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Drift checks: list (?model=, ?verdict=, ?status=), one with its per-feature results,
    and "run now" (POST: the window, or the CSV sent as `file`)."""

    filterset_class = DriftCheckFilter
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return DriftCheck.objects.select_related("model_version__registered_model")

    def get_serializer_class(self):
        return DriftCheckDetailSerializer if self.action == "retrieve" else DriftCheckSerializer

    @extend_schema(request=CreateDriftCheckInput, responses={201: DriftCheckSerializer})
    def create(self, request):
        data = request.data
        limit = upload_too_large(request)
        if limit:
            raise InvalidInput(
                f"The file is larger than the {human_bytes(limit)} upload limit.", field="file"
            )
        params = CreateDriftCheckInput(data=data)
        params.is_valid(raise_exception=True)
        model = registered_model_get(params.validated_data["model"])
        if model is None:
            raise NotFound(f"There is no model named {params.validated_data['model']!r}.")
        monitor = services.drift_monitor_ensure(model=model)
        upload = params.validated_data.get("file")
        if upload is not None:
            with upload.open("rb") as source:
                check = services.drift_check_create(
                    monitor=monitor, actor=request.user, upload=source
                )
        else:
            check = services.drift_check_create(monitor=monitor, actor=request.user)
        return Response(DriftCheckSerializer(check).data, status=status.HTTP_201_CREATED)


class PerformanceSnapshotViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Performance history: one row per version per interval (requests, rows, errors by
    reason, request latency percentiles, throughput, labels, live and estimated accuracy).
    Filter with ?model=, ?version= and ?since= (ISO 8601)."""

    serializer_class = PerformanceSnapshotSerializer
    filterset_class = PerformanceSnapshotFilter

    def get_queryset(self):
        return PerformanceSnapshot.objects.select_related(
            "registered_model", "model_version"
        ).order_by("-interval_start", "model_version_id")


class EventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """What happened: versions registered, promoted, archived or rolled back, drift found,
    retrainings, A/B tests started and decided, failed jobs. Filter with ?model=, ?kind=,
    ?since=."""

    serializer_class = EventSerializer
    filterset_class = EventFilter
    queryset = Event.objects.all()


class WebhookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Webhooks (staff only): URLs that receive events as signed POSTs. Creating one answers
    its secret, once. `deliveries/` is the delivery log; `test/` sends a test event."""

    serializer_class = WebhookSerializer
    queryset = Webhook.objects.all()
    permission_classes = [IsStaff]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(request=WebhookInput, responses={201: WebhookCreatedSerializer})
    def create(self, request):
        params = WebhookInput(data=request.data)
        params.is_valid(raise_exception=True)
        webhook, secret = services.webhook_create(actor=request.user, **params.validated_data)
        body = WebhookSerializer(webhook).data
        return Response({**body, "secret": secret}, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookInput, responses=WebhookSerializer)
    def partial_update(self, request, pk=None):
        params = WebhookSerializer(data=request.data, partial=True)
        params.is_valid(raise_exception=True)
        webhook = services.webhook_update(webhook=self.get_object(), **params.validated_data)
        return Response(WebhookSerializer(webhook).data)

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The webhook's last 100 deliveries, newest first."""
        rows = self.get_object().deliveries.select_related("event")[:100]
        return Response(WebhookDeliverySerializer(rows, many=True).data)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send a test event to this webhook (a worker delivers it)."""
        delivery = services.webhook_send_test(webhook=self.get_object())
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class CostRecordViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """What each piece of work cost: CPU seconds measured where it ran (training jobs and
    their trial workers, drift checks, A/B evaluations, batch scoring, serving per interval)
    and bytes kept (storage, daily), priced at the rate in effect. Filter with ?model=,
    ?version=, ?kind=, ?since=, ?until=."""

    serializer_class = CostRecordSerializer
    filterset_class = CostRecordFilter
    queryset = CostRecord.objects.all()


class CostRateViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Prices per CPU-hour and per GB-month, each from `effective_from` on; staff add and
    remove them (without any, the COST_* settings apply). A record keeps its price."""

    serializer_class = CostRateSerializer
    queryset = CostRate.objects.all()

    def get_permissions(self):
        if self.action in ("create", "destroy"):
            return [IsStaff()]
        return super().get_permissions()


class CostReportView(APIView):
    """Costs summed per ?group_by= (day, kind, model, version; default day,kind) over
    ?since= to ?until= (default the last 30 days), for ?model=, ?version=, ?kind=; with each
    version's inference cost per 1,000 predictions and the most expensive training jobs."""

    @extend_schema(parameters=[CostReportInput], responses=CostReportSerializer)
    def get(self, request):
        query = CostReportInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        group_by = params.pop("group_by")
        until = params.pop("until", None) or timezone.now()
        since = params.pop("since", None) or until - timedelta(days=30)
        report = selectors.cost_report(group_by=group_by, since=since, until=until, **params)
        per_version = selectors.cost_per_version(since=since, until=until, **params)
        jobs = selectors.costliest_training_jobs(
            since=since, until=until, **{k: v for k, v in params.items() if k != "kind"}
        )
        body = {
            **report,
            "since": since,
            "until": until,
            "per_version": per_version,
            "training_jobs": jobs,
        }
        return Response(CostReportSerializer(body).data)
