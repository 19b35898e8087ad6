"""A local stand-in for the Hugging Face Hub: the HTTP endpoints huggingface_hub 0.36 calls
for `whoami`, `create_repo` and `upload_folder` (the README's metadata check, preupload, then
one NDJSON commit with every file inline), and the file downloads `snapshot_download` makes,
with tokens, owners and private repositories. It records what arrived, so a test can check
files and checksums.

Run by tests in a thread on 127.0.0.1; point huggingface_hub at it with HF_ENDPOINT (the
export's `endpoint`). Not a mock of our code: it plays the Hub's part of the protocol.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Repo:
    owner: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)


class HubStandIn:
    def __init__(self, tokens: dict[str, str]):
        self.tokens = dict(tokens)  # token -> user name
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str, dict]] = []  # method, path, headers
        self.validated: list[str] = []  # README contents sent to /api/validate-yaml
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"hub": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HubStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    hub: HubStandIn

    def log_message(self, *args) -> None:  # quiet
        pass

    # -- helpers ---------------------------------------------------------------------------

    def _user(self) -> str | None:
        header = self.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        return self.hub.tokens.get(token)

    def _send(self, status: int, body, *, error: str | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error:
            self.send_header("X-Error-Message", error)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": message}, error=message)

    def _body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _record(self) -> None:
        with self.hub._lock:
            self.hub.requests.append((self.command, self.path, dict(self.headers)))

    # -- endpoints -------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._record()
        user = self._user()
        if self.path.startswith("/api/whoami-v2"):
            if user is None:
                return self._error(401, "Invalid user token.")
            return self._send(200, {"type": "user", "name": user, "auth": {}})
        match = re.match(r"^/api/models/([^/]+/[^/]+)/revision/([^/?]+)", self.path)
        if match:
            repo = self._readable(match.group(1), user)
            if repo is None:
                return None
            sha = repo.commits[-1] if repo.commits else "0" * 40
            return self._send(
                200,
                {
                    "id": match.group(1),
                    "sha": sha,
                    "private": repo.private,
                    "siblings": [{"rfilename": name} for name in sorted(repo.files)],
                },
            )
        match = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.path.split("?")[0])
        if match:
            repo = self._readable(match.group(1), user)
            if repo is None:
                return None
            name = match.group(3)
            if name not in repo.files:
                return self._error(404, "Entry not found")
            data = repo.files[name]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
            self.send_header("X-Repo-Commit", repo.commits[-1] if repo.commits else "0" * 40)
            self.end_headers()
            self.wfile.write(data)
            return None
        return self._error(404, "Not found")

    def do_HEAD(self) -> None:  # noqa: N802
        self._record()
        match = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.path.split("?")[0])
        user = self._user()
        repo = self.hub.repos.get(match.group(1)) if match else None
        if (
            repo is None
            or (repo.private and user != repo.owner)
            or match.group(3) not in repo.files
        ):
            self.send_response(404)
            self.end_headers()
            return
        data = repo.files[match.group(3)]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", repo.commits[-1])
        self.end_headers()

    def _readable(self, repo_id: str, user: str | None) -> Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and user != repo.owner):
            self._error(404, "Repository not found")
            return None
        return repo

    def do_POST(self) -> None:  # noqa: N802
        self._record()
        body = self._body()
        user = self._user()
        if self.path == "/api/validate-yaml":
            # The Hub checks a README's metadata before a commit that adds one: here the
            # YAML must parse and its model-index must read back as evaluation results.
            import yaml
            from huggingface_hub.repocard_data import model_index_to_eval_results

            content = json.loads(body)["content"]
            self.hub.validated.append(content)
            try:
                metadata = yaml.safe_load(content.split("---\n")[1])
                if "model-index" in metadata:
                    model_index_to_eval_results(metadata["model-index"])
            except Exception as exc:  # noqa: BLE001 - any malformed metadata is a 400
                return self._error(400, f"Invalid metadata: {exc}")
            return self._send(200, {"errors": [], "warnings": []})
        if user is None:
            return self._error(401, "Invalid credentials in Authorization header")
        if self.path == "/api/repos/create":
            request = json.loads(body)
            namespace = request.get("organization") or user
            repo_id = f"{namespace}/{request['name']}"
            if namespace != user:
                return self._error(
                    403,
                    f"You don't have the rights to create a model under the namespace "
                    f'"{namespace}"',
                )
            if repo_id in self.hub.repos:
                message = "You already created this model repo"
                return self._send(
                    409,
                    {"error": message, "url": f"{self.hub.endpoint}/{repo_id}"},
                    error=message,
                )
            self.hub.repos[repo_id] = Repo(owner=user, private=bool(request.get("private")))
            return self._send(200, {"url": f"{self.hub.endpoint}/{repo_id}", "name": repo_id})
        match = re.match(r"^/api/models/([^/]+/[^/]+)/(preupload|commit)/([^/?]+)", self.path)
        if not match:
            return self._error(404, "Not found")
        repo = self.hub.repos.get(match.group(1))
        if repo is None:
            return self._error(404, "Repository not found")
        if repo.owner != user:
            return self._error(403, "You don't have the rights to write to this repository")
        if match.group(2) == "preupload":
            files = json.loads(body)["files"]
            return self._send(
                200,
                {
                    "files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                        for f in files
                    ]
                },
            )
        summary = ""
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if item["key"] == "header":
                summary = item["value"].get("summary", "")
            elif item["key"] == "file":
                value = item["value"]
                content = value["content"]
                data = base64.b64decode(content) if value.get("encoding") == "base64" else content
                repo.files[value["path"]] = data if isinstance(data, bytes) else data.encode()
        oid = hashlib.sha1((summary + str(len(repo.commits))).encode()).hexdigest()
        repo.commits.append(oid)
        return self._send(
            200,
            {
                "commitUrl": f"{self.hub.endpoint}/{match.group(1)}/commit/{oid}",
                "commitOid": oid,
                "success": True,
            },
        )
