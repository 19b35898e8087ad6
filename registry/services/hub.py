"""Hugging Face Hub export: one job per export, run by a worker (core.jobs).

The job builds the version's folder (its artifacts and manifest, the model card as README.md,
card.json, an input example, the reference sample, load.py, which loads it with numpy and
skops or safetensors alone, and modelyard.json, every other file's sha256, which an import
checks), creates the repository (private unless asked otherwise; an existing repository of the
same owner is reused) and uploads the folder in one commit, then records the commit and the
URL on the job and the version.

The token is HF_TOKEN or the requesting user's own, stored encrypted (Fernet, a key derived
from SECRET_KEY). It is passed to huggingface_hub and nowhere else: never logged, never in an
answer, a page or a job's reason (every reason is scrubbed of it). HF_ENDPOINT points the
export at another Hub (the tests run a local stand-in).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import shutil
import tempfile
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import transaction

from core.errors import InvalidInput
from core.jobs import JobRunner
from registry.models import HubExport, HubToken, ModelVersion
from registry.services.imports import export_index

logger = logging.getLogger(__name__)

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
LOAD_SCRIPT = Path(__file__).resolve().parent.parent / "hub_load.py"


# -- tokens ------------------------------------------------------------------------------------


def _fernet():
    from cryptography.fernet import Fernet

    key = hashlib.sha256(("modelyard hub token " + settings.SECRET_KEY).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def hub_token_set(*, user, token: str) -> None:
    """Store (or with an empty token, remove) the user's own Hub token, encrypted."""
    token = (token or "").strip()
    if not token:
        HubToken.objects.filter(user=user).delete()
        return
    if len(token) > 400 or any(c.isspace() for c in token):
        raise InvalidInput("That does not look like a Hub token.", field="token")
    HubToken.objects.update_or_create(
        user=user, defaults={"encrypted": _fernet().encrypt(token.encode()).decode()}
    )


def _token_for(user) -> str | None:
    if user is not None:
        stored = HubToken.objects.filter(user=user).values_list("encrypted", flat=True).first()
        if stored:
            return _fernet().decrypt(stored.encode()).decode()
    return settings.HF_TOKEN or None


def hub_token_source(user) -> str:
    """Where an export by `user` takes its token from: "yours", "HF_TOKEN" or "" (none)."""
    if user is not None and HubToken.objects.filter(user=user).exists():
        return "yours"
    return "HF_TOKEN" if settings.HF_TOKEN else ""


# -- the job -------------------------------------------------------------------------------------


def _enqueue(job: HubExport) -> None:
    from registry.tasks import run_hub_export_task

    run_hub_export_task.delay(job.pk)


HUB_EXPORTS = JobRunner(
    kind="hub_export",
    model=HubExport,
    enqueue=_enqueue,
    label="Hub export",
)


def hub_export_create(
    *, version: ModelVersion, repo_id: str, private: bool = True, actor=None
) -> HubExport:
    """Queue an export of `version` to `repo_id` ("owner/name"); InvalidInput naming the
    field for a malformed repository id, a corrupt version or no token to use."""
    repo_id = (repo_id or "").strip()
    if not REPO_ID.match(repo_id):
        raise InvalidInput(
            "The repository id must be owner/name: letters, digits, '.', '_' or '-'.",
            field="repo_id",
        )
    if version.is_corrupt:
        raise InvalidInput(f"{version} failed its checksums; it cannot be exported.")
    if not hub_token_source(actor):
        raise InvalidInput(
            "No Hub token: set HF_TOKEN on the server or store your own token first.",
            field="token",
        )
    job = HubExport.objects.create(
        model_version=version,
        repo_id=repo_id,
        private=private,
        requested_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    transaction.on_commit(partial(HUB_EXPORTS.enqueue, job))
    return job


def _scrub(text: str, token: str | None) -> str:
    text = str(text)
    if token:
        text = text.replace(token, "***")
    return re.sub(r"hf_[A-Za-z0-9]{8,}", "hf_***", text)


def _reason(exc: Exception, job: HubExport, token: str | None) -> str:
    import requests
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = settings.HF_ENDPOINT
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status == 401:
            return "The Hub refused the token (401): check HF_TOKEN or your stored token."
        if status == 403:
            return (
                f"The token may not write to {job.repo_id} (403): the repository or its "
                "namespace belongs to someone else."
            )
        return _scrub(f"The Hub answered {status}: {exc}", token)
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return f"The Hub at {endpoint} could not be reached ({type(exc).__name__})."
    return _scrub(f"{type(exc).__name__}: {exc}", token)


def hub_export_folder(version: ModelVersion, folder: Path) -> list[str]:
    """Write the export's files into `folder`; returns their names."""
    from registry.cards import card_facts, card_json, card_markdown

    for name in version.artifact_files:
        shutil.copyfile(version.artifact_dir / name, folder / name)
    facts = card_facts(version)
    (folder / "README.md").write_text(card_markdown(facts))
    (folder / "card.json").write_text(json.dumps(card_json(facts), indent=2, default=str))
    (folder / "input_example.json").write_text(json.dumps(version.input_example, indent=2))
    shutil.copyfile(LOAD_SCRIPT, folder / "load.py")
    if version.reference_file is not None and version.reference_file.exists():
        shutil.copyfile(version.reference_file, folder / "reference.csv")
    export_index(folder, model=version.registered_model.name, version=version.version)
    return sorted(p.name for p in folder.iterdir())


def hub_export_run(*, job_id: int) -> HubExport | None:
    """Claim and run one export; every outcome is on the job's row (a reason on failure)."""
    if not HUB_EXPORTS.claim(job_id=job_id):
        return None
    job = HubExport.objects.select_related("model_version__registered_model", "requested_by").get(
        pk=job_id
    )
    pulse = HUB_EXPORTS.pulse(job_id=job_id)
    token = None
    folder = Path(tempfile.mkdtemp(prefix="modelyard-hub-"))
    try:
        token = _token_for(job.requested_by)
        if not token:
            raise PermissionError("No Hub token: set HF_TOKEN or store your own token.")
        from huggingface_hub import HfApi

        version = job.model_version
        pulse.progress(progress="writing the folder")
        names = hub_export_folder(version, folder)
        api = HfApi(endpoint=settings.HF_ENDPOINT, token=token)
        pulse.progress(progress="creating the repository", files_total=len(names))
        api.create_repo(job.repo_id, private=job.private, exist_ok=True, repo_type="model")
        pulse.progress(progress=f"uploading {len(names)} files")
        info = api.upload_folder(
            folder_path=folder,
            repo_id=job.repo_id,
            repo_type="model",
            commit_message=f"Modelyard: {version.registered_model.name} v{version.version}",
        )
        url = f"{settings.HF_ENDPOINT.rstrip('/')}/{job.repo_id}"
        HUB_EXPORTS.finish(
            job_id=job_id,
            status=HubExport.Status.SUCCEEDED,
            commit_sha=info.oid or "",
            url=url,
            files_total=len(names),
            files_done=len(names),
            progress="uploaded",
        )
        ModelVersion.objects.filter(pk=version.pk).update(
            hub_url=url, hub_commit=info.oid or "", hub_repo_id=job.repo_id
        )
    except Exception as exc:  # noqa: BLE001 - the export's outcome, with its reason
        reason = str(exc) if isinstance(exc, PermissionError) else _reason(exc, job, token)
        logger.warning("Hub export %s failed: %s", job_id, reason)
        HUB_EXPORTS.finish(job_id=job_id, status=HubExport.Status.FAILED, reason=reason)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    job.refresh_from_db()
    return job


def hub_exports_sweep() -> dict:
    return HUB_EXPORTS.sweep()
