from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from core.csvfiles import human_bytes
from core.errors import InvalidInput, NotFound
from core.permissions import IsStaff
from core.uploads import upload_too_large
from registry import selectors, services
from registry.filters import ModelVersionFilter, StageTransitionFilter
from registry.models import HubExport, ModelVersion, StageTransition
from registry.serializers import (
    CreateDatasetInput,
    DatasetListSerializer,
    DatasetSerializer,
    GenerateSyntheticInput,
    HubExportInput,
    HubExportSerializer,
    ModelVersionListSerializer,
    ModelVersionSerializer,
    RegisteredModelSerializer,
    SetTargetInput,
    StageTransitionSerializer,
    TransitionInput,
)


class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Datasets: upload a CSV (multipart), list, show, name the target, delete (staff)."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return selectors.dataset_list()

    def get_serializer_class(self):
        return DatasetListSerializer if self.action == "list" else DatasetSerializer

    def get_permissions(self):
        permissions = super().get_permissions()
        if self.action == "destroy":
            permissions.append(IsStaff())
        return permissions

    @extend_schema(
        request=CreateDatasetInput, responses={201: DatasetSerializer, 200: DatasetSerializer}
    )
    def create(self, request):
        # Touch the body first so the streaming size check has run.
        data = request.data
        limit = upload_too_large(request)
        if limit:
            raise InvalidInput(
                f"The file is larger than the {human_bytes(limit)} upload limit.", field="file"
            )
        params = CreateDatasetInput(data=data)
        params.is_valid(raise_exception=True)
        upload = params.validated_data["file"]
        with upload.open("rb") as source:
            dataset, created = services.dataset_ingest(
                source=source,
                filename=upload.name,
                name=params.validated_data.get("name", ""),
                target=params.validated_data.get("target", ""),
                description=params.validated_data.get("description", ""),
                created_by=request.user,
            )
        return Response(
            DatasetSerializer(dataset).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(request=SetTargetInput, responses=DatasetSerializer)
    def partial_update(self, request, pk=None):
        dataset = self.get_object()
        params = SetTargetInput(data=request.data)
        params.is_valid(raise_exception=True)
        dataset = services.dataset_set_target(
            dataset=dataset, target=params.validated_data["target"]
        )
        return Response(DatasetSerializer(dataset).data)

    def destroy(self, request, pk=None):
        services.dataset_delete(dataset=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=GenerateSyntheticInput, responses={201: DatasetSerializer})
    @action(detail=False, methods=["post"])
    def synthetic(self, request):
        params = GenerateSyntheticInput(data=request.data)
        params.is_valid(raise_exception=True)
        dataset, created = services.dataset_generate_synthetic(
            params=params.params(),
            name=params.validated_data.get("name", ""),
            created_by=request.user,
        )
        return Response(
            DatasetSerializer(dataset).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class RegisteredModelViewSet(viewsets.ReadOnlyModelViewSet):
    """Registered models with their production version."""

    serializer_class = RegisteredModelSerializer
    lookup_field = "name"
    lookup_value_regex = r"[a-z0-9][a-z0-9_-]*"

    def get_queryset(self):
        return selectors.registered_model_list()


class ModelVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Model versions (filter with ?model=NAME&stage=STAGE); promote and archive them."""

    filterset_class = ModelVersionFilter

    def get_queryset(self):
        return ModelVersion.objects.select_related("registered_model").order_by(
            "registered_model__name", "-version"
        )

    def get_serializer_class(self):
        return ModelVersionListSerializer if self.action == "list" else ModelVersionSerializer

    def get_permissions(self):
        permissions = super().get_permissions()
        if self.action in ("promote", "archive", "stage"):
            permissions.append(IsStaff())
        return permissions

    def _transition(self, request, to_stage: str):
        params = TransitionInput(data=request.data)
        params.is_valid(raise_exception=True)
        version = services.model_version_transition(
            version=self.get_object(),
            to_stage=to_stage,
            actor=request.user,
            reason=params.validated_data["reason"],
        )
        return Response(ModelVersionSerializer(version).data)

    @extend_schema(request=TransitionInput, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        """Move to production; the previous production version is archived (staff only)."""
        return self._transition(request, ModelVersion.Stage.PRODUCTION)

    @extend_schema(request=TransitionInput, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        """Archive the version (staff only)."""
        return self._transition(request, ModelVersion.Stage.ARCHIVED)


class StageTransitionViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail of stage changes (filter with ?model=NAME)."""

    serializer_class = StageTransitionSerializer
    filterset_class = StageTransitionFilter

    def get_queryset(self):
        return StageTransition.objects.select_related("model_version__registered_model")


class CardQuery(serializers.Serializer):
    output = serializers.ChoiceField(
        choices=["json", "md"],
        default="json",
        help_text="json: Model Card Toolkit fields; md: the Hugging Face README.md.",
    )
    slices = serializers.CharField(
        required=False, help_text="Comma-separated categorical features to slice the metrics by."
    )


@extend_schema(parameters=[CardQuery], responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
def version_card(request, pk: int):
    """GET /api/v1/versions/{id}/card: the version's model card, generated from the records
    now, as Model Card Toolkit JSON (default) or the Hugging Face README.md (?output=md)."""
    from django.http import HttpResponse

    from registry import cards

    query = CardQuery(data=request.query_params)
    query.is_valid(raise_exception=True)
    version = ModelVersion.objects.select_related("registered_model").filter(pk=pk).first()
    if version is None:
        raise NotFound(f"There is no model version {pk}.")
    facts = cards.card_facts(
        version, slices=cards.parse_slices(query.validated_data.get("slices"), version)
    )
    if query.validated_data["output"] == "md":
        return HttpResponse(cards.card_markdown(facts), content_type="text/markdown; charset=utf-8")
    return Response(cards.card_json(facts))


class HubExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Exports of versions to the Hugging Face Hub: status, progress, commit and URL, or the
    failure's reason. Start one with POST /api/v1/versions/{id}/hub-exports (staff)."""

    serializer_class = HubExportSerializer
    queryset = HubExport.objects.select_related("model_version__registered_model")


@extend_schema(request=HubExportInput, responses={202: HubExportSerializer})
@api_view(["POST"])
@permission_classes([IsStaff])
def version_hub_export(request, pk: int):
    """Queue an export of the version to a Hub repository (private unless asked otherwise);
    a worker runs it. The token is HF_TOKEN or the user's stored one, never in an answer."""
    data = HubExportInput(data=request.data)
    data.is_valid(raise_exception=True)
    version = ModelVersion.objects.select_related("registered_model").filter(pk=pk).first()
    if version is None:
        raise NotFound(f"There is no model version {pk}.")
    job = services.hub_export_create(
        version=version,
        repo_id=data.validated_data["repo_id"],
        private=data.validated_data["private"],
        actor=request.user,
    )
    return Response(HubExportSerializer(job).data, status=status.HTTP_202_ACCEPTED)
