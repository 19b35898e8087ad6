"""The ceiling: a bare WSGI app under the same gunicorn settings as the platform.

It answers every request with a small JSON body, so a run against it measures what gunicorn
(with the repository's gunicorn.conf.py: access log, hooks), the load generator and the
loopback network cost on this machine before Django, the database or a model do any work.
"""

import os

if os.environ.get("DJANGO_SETTINGS_MODULE"):
    # gunicorn.conf.py's post_worker_init imports the URLconf, which needs Django set up, as
    # mlops_site.wsgi does on import. Doing the same lets the ceiling run under that config
    # unchanged; no request ever reaches Django.
    import django

    django.setup()

BODY = b'{"status": "ok"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    # Read the request body like the platform must, so 100-row requests cost the ceiling the
    # same bytes off the socket; its content is ignored.
    stream = environ["wsgi.input"]
    while stream.read(65536):
        pass
    start_response("200 OK", HEADERS)
    return [BODY]
