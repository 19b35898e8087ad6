import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from monitoring import prometheus


def _bearer_token(request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


# Prometheus cannot log in: the endpoint is open unless METRICS_TOKEN asks for a bearer token.
@login_not_required
@never_cache
@require_GET
def metrics(request):
    expected = settings.METRICS_TOKEN
    if expected and not hmac.compare_digest(_bearer_token(request).encode(), expected.encode()):
        response = HttpResponse(
            "Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = prometheus.metrics_exposition(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
