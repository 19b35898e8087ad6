"""An upload handler that enforces the dataset size limit while the request streams in.

A request whose Content-Length already exceeds the limit is refused before its body is read;
otherwise the upload stops at the first chunk past the limit. Either way the view learns of it
through `upload_too_large(request)` and answers 400; nothing is kept on disk.
"""

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

# Room for the multipart boundaries and the small form fields around the file.
MULTIPART_OVERHEAD = 64 * 1024


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    # The setting that holds the limit, read per request (tests override settings).
    limit_setting = "DATASET_MAX_UPLOAD_BYTES"

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.limit = getattr(settings, self.limit_setting)
        self.received = 0
        settings.UPLOAD_TMP_DIR.mkdir(parents=True, exist_ok=True)
        if content_length and content_length > self.limit + MULTIPART_OVERHEAD:
            self.request.upload_too_large = self.limit
            return QueryDict(mutable=True), MultiValueDict()
        return None

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.request.upload_too_large = self.limit
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)


def upload_too_large(request) -> int | None:
    """The limit an upload in this request exceeded, or None. Accepts Django or DRF requests."""
    django_request = getattr(request, "_request", request)
    return getattr(django_request, "upload_too_large", None)


def upload_form_refusing_oversize(form_class, request):
    """The form bound to the request; when the upload went over its limit, the form without
    the file, whose only error says so (the file field's "required" error would mislead)."""
    from core.csvfiles import human_bytes

    form = form_class(request.POST, request.FILES)  # reading FILES runs the handler's check
    limit = upload_too_large(request)
    if limit:
        form = form_class(request.POST)
        form.is_valid()
        form.errors.pop("file", None)
        form.add_error(None, f"The file is larger than the {human_bytes(limit)} upload limit.")
    return form
