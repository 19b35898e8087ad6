from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from training import services
from training.filters import TrainingJobFilter
from training.models import TrainingJob
from training.serializers import (
    CreateTrainingJobInput,
    TrainingJobDetailSerializer,
    TrainingJobSerializer,
)


class TrainingJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Training jobs: start a search, follow its progress and trials, cancel it."""

    filterset_class = TrainingJobFilter

    def get_queryset(self):
        qs = TrainingJob.objects.select_related(
            "dataset", "created_by", "result_version__registered_model"
        )
        if self.action == "retrieve":
            qs = qs.prefetch_related("trials")
        return qs

    def get_serializer_class(self):
        return TrainingJobDetailSerializer if self.action == "retrieve" else TrainingJobSerializer

    @extend_schema(request=CreateTrainingJobInput, responses={201: TrainingJobSerializer})
    def create(self, request):
        params = CreateTrainingJobInput(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        job = services.training_job_create(
            dataset=data.pop("dataset"),
            families=data.pop("families", None),
            imbalance=data.pop("imbalance", None),
            created_by=request.user,
            **data,
        )
        return Response(TrainingJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TrainingJobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = services.training_job_cancel(job=self.get_object())
        return Response(TrainingJobSerializer(job).data)
