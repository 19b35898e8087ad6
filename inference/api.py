"""REST prediction, feedback and batch-scoring endpoints under /api/v1/."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from core.csvfiles import human_bytes
from core.errors import Conflict, InvalidInput, NotFound
from core.uploads import upload_too_large
from inference.batch import use_batch_upload_limit
from inference.filters import BatchScoringJobFilter
from inference.models import BatchScoringJob, PredictionLog
from inference.serializers import (
    BatchScoringJobSerializer,
    BulkFeedbackInput,
    CreateBatchScoringJobInput,
    FeedbackInput,
)
from inference.services import (
    batch_scoring_job_create,
    explanations_serve,
    feedback_record,
    feedback_record_bulk,
    predictions_serve,
)
from inference.serving.http import (
    json_response,
    method_not_allowed,
    prediction_endpoint,
    read_json_body,
    rest_error,
)
from inference.validation import RequestError

PREDICT_KEYS = frozenset({"instances", "unit_id", "version", "stage", "request_id"})


def _version_choice(payload: dict, query) -> tuple[int | None, str | None]:
    version = payload.get("version", query.get("version"))
    stage = payload.get("stage", query.get("stage"))
    if version is not None and stage is not None:
        raise RequestError(
            "Choose a version or a stage, not both.", reason="bad_request", field="version"
        )
    if version is not None:
        try:
            if isinstance(version, bool) or float(version) != int(version):
                raise ValueError
            version = int(version)
        except (TypeError, ValueError, OverflowError):
            raise RequestError(
                f"`version` must be a version number, not {version!r}.",
                reason="bad_request",
                field="version",
            ) from None
    if stage is not None and not isinstance(stage, str):
        raise RequestError("`stage` must be a string.", reason="bad_request", field="stage")
    return version, stage


def _rows_body(request, keys: frozenset) -> dict:
    """The JSON body of predict or explain: an object of `keys` with `instances`."""
    payload = read_json_body(request)
    if not isinstance(payload, dict):
        raise RequestError(
            'The body must be a JSON object: {"instances": [{feature: value, ...}, ...]}.',
            reason="bad_request",
        )
    unknown = sorted(set(payload) - keys)
    if unknown:
        raise RequestError(
            f"Unknown key {unknown[0]!r}; the body takes {', '.join(sorted(keys))}.",
            reason="bad_request",
            field=unknown[0],
        )
    if "instances" not in payload:
        raise RequestError(
            "The body needs `instances`, a list of rows.", reason="bad_request", field="instances"
        )
    return payload


@prediction_endpoint(rest_error)
def predict(request, name: str, *, started: float):
    """POST /api/v1/models/{name}/predict — see README "Serving"."""
    if request.method != "POST":
        return method_not_allowed("POST", rest_error)
    payload = _rows_body(request, PREDICT_KEYS)
    version, stage = _version_choice(payload, request.GET)
    request_id = payload.get("request_id") or ""
    if not isinstance(request_id, str) or len(request_id) > 100 or "\x00" in request_id:
        raise RequestError(
            "`request_id` must be a string of at most 100 characters, without NUL.",
            reason="bad_request",
            field="request_id",
        )
    served = predictions_serve(
        model_name=name,
        instances=payload["instances"],
        version=version,
        stage=stage,
        unit_id=payload.get("unit_id"),
        source=PredictionLog.Source.REST,
        request_id=request_id,
        started=started,
        cpu_started=request.cpu_started,
    )
    target = served.target
    body = {
        "model": target.model_name,
        "version": target.version,
        "stage": target.stage,
        "class_labels": served.class_labels,
        "predictions": served.rows(),
    }
    if served.route.ab_test_id is not None:
        body["ab_test"] = {"id": served.route.ab_test_id, "arm": served.route.arm}
    return json_response(body)


EXPLAIN_KEYS = frozenset({"instances", "version", "stage"})


@prediction_endpoint(rest_error)
def explain(request, name: str, *, started: float):
    """POST /api/v1/models/{name}/explain — the rows and errors of predict, answered with
    each row's prediction and its SHAP values per input feature (README "Explanations")."""
    if request.method != "POST":
        return method_not_allowed("POST", rest_error)
    payload = _rows_body(request, EXPLAIN_KEYS)
    version, stage = _version_choice(payload, request.GET)
    explained = explanations_serve(
        model_name=name, instances=payload["instances"], version=version, stage=stage
    )
    target = explained.target
    return json_response(
        {
            "model": target.model_name,
            "version": target.version,
            "stage": target.stage,
            "class_labels": explained.class_labels,
            "method": explained.method,
            "output": "log-odds of the explained class (binary) or its logit (more classes), "
            "before calibration; base_value + sum(contributions) = output",
            "explanations": explained.rows(),
        }
    )


# -- feedback (DRF: not a hot path) ----------------------------------------------------------


@extend_schema(request=FeedbackInput, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
def prediction_feedback(request, prediction_id: str):
    """Record the true label of one prediction (409 if it already has a different one)."""
    data = FeedbackInput(data=request.data)
    data.is_valid(raise_exception=True)
    outcome = feedback_record(
        prediction_id=prediction_id,
        label=data.validated_data["label"],
        overwrite=data.validated_data["overwrite"],
    )
    return Response(outcome.as_dict(), status=201 if outcome.status != "unchanged" else 200)


@extend_schema(request=BulkFeedbackInput, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
def bulk_feedback(request):
    """Record up to FEEDBACK_MAX_ITEMS labels; each item is reported on its own."""
    data = BulkFeedbackInput(data=request.data)
    data.is_valid(raise_exception=True)
    outcomes = feedback_record_bulk(
        items=data.validated_data["items"], overwrite=data.validated_data["overwrite"]
    )
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return Response({"counts": counts, "results": [o.as_dict() for o in outcomes]})


# -- batch scoring (DRF) ---------------------------------------------------------------------


class BatchScoringJobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Batch scoring: upload a CSV against a model (multipart), follow the job, download the
    scored CSV. Filter the list with ?model=NAME and ?status=STATUS."""

    serializer_class = BatchScoringJobSerializer
    parser_classes = [MultiPartParser, FormParser]
    filterset_class = BatchScoringJobFilter

    def initialize_request(self, request, *args, **kwargs):
        # Before DRF (or its CSRF check) reads the body: the batch limit, not the dataset one.
        if request.method == "POST":
            use_batch_upload_limit(request)
        return super().initialize_request(request, *args, **kwargs)

    def get_queryset(self):
        jobs = BatchScoringJob.objects.select_related(
            "registered_model", "model_version", "created_by"
        )
        return jobs

    @extend_schema(request=CreateBatchScoringJobInput, responses={201: BatchScoringJobSerializer})
    def create(self, request):
        data = request.data  # parsed first, so the streaming size check has run
        limit = upload_too_large(request)
        if limit:
            raise InvalidInput(
                f"The file is larger than the {human_bytes(limit)} upload limit.", field="file"
            )
        params = CreateBatchScoringJobInput(data=data)
        params.is_valid(raise_exception=True)
        upload = params.validated_data["file"]
        with upload.open("rb") as source:
            job = batch_scoring_job_create(
                model_name=params.validated_data["model"],
                file=source,
                filename=upload.name,
                version=params.validated_data.get("version"),
                stage=params.validated_data.get("stage"),
                actor=request.user,
            )
        body = BatchScoringJobSerializer(job, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The scored CSV (409 until the job has succeeded)."""
        job = self.get_object()
        if job.status != BatchScoringJob.Status.SUCCEEDED:
            raise Conflict(
                f"Batch job {job.pk} is {job.status}; its output can be downloaded once it has "
                "succeeded.",
                details={"status": job.status},
            )
        path = job.output_file
        if path is None or not path.exists():
            raise NotFound(f"The output file of batch job {job.pk} is gone.")
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"{job.registered_model.name}-v{job.model_version.version}-batch-{job.pk}.csv",
            content_type="text/csv",
        )
