"""django-prometheus's middleware pair, minus the prediction endpoints.

The pair updates about ten counters per request: 0.12-0.17 ms of CPU measured here, a sixth
of a single-row prediction. Predictions have their own metrics (`inference.metrics`: requests,
latency histogram, rows per class and errors per model and version), so these requests skip
the generic ones. Every other page and API call is counted as before.
"""

from django_prometheus.middleware import PrometheusAfterMiddleware, PrometheusBeforeMiddleware


def is_prediction_path(path: str) -> bool:
    return path.endswith("/predict") or path.startswith("/v2/models/")


class BeforeMiddleware(PrometheusBeforeMiddleware):
    def __call__(self, request):
        if is_prediction_path(request.path_info):
            return self.get_response(request)
        return super().__call__(request)


class AfterMiddleware(PrometheusAfterMiddleware):
    def __call__(self, request):
        if is_prediction_path(request.path_info):
            request._skip_prometheus = True
            return self.get_response(request)
        return super().__call__(request)

    # The handler calls these hooks directly, outside __call__.
    def process_view(self, request, *args, **kwargs):
        if getattr(request, "_skip_prometheus", False):
            return None
        return super().process_view(request, *args, **kwargs)

    def process_exception(self, request, exception):
        if getattr(request, "_skip_prometheus", False):
            return None
        return super().process_exception(request, exception)

    def process_template_response(self, request, response):
        if getattr(request, "_skip_prometheus", False):
            return response
        return super().process_template_response(request, response)
