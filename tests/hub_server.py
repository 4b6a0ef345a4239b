"""A small Hugging Face Hub-compatible HTTP server for offline tests (standard library only).

It implements just what ``huggingface_hub`` uses for downloads, snapshots, repo creation and
regular (non-LFS, non-Xet) uploads, keeping repositories in memory as immutable commits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Repo:
    """Commits (sha → {path: bytes}) and branches (name → sha)."""

    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    private: bool = False
    sdk: str | None = None  # a Space's SDK (``gradio``), as given when it was created

    def commit(self, branch: str, files: dict[str, bytes], deleted: set[str], message: str) -> str:
        parent = self.branches.get(branch)
        tree = dict(self.commits.get(parent, {})) if parent else {}
        tree.update(files)
        for path in deleted:
            tree.pop(path, None)
        seed = f"{parent}:{message}:{len(self.commits)}".encode() + b"".join(
            path.encode() + hashlib.sha256(data).digest() for path, data in sorted(tree.items())
        )
        sha = hashlib.sha1(seed).hexdigest()
        self.commits[sha] = tree
        self.branches[branch] = sha
        return sha

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None


class HubState:
    """Every repository the server holds, plus a request log for assertions."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[str] = []
        self.lock = threading.Lock()
        #: ``"500"`` or ``"stall"``: every request but the zoo's probe fails that way (a Hub
        #: that is up, then falls over); ``"stall-get"``: only file downloads (GET .../resolve/)
        #: hang; None: serve normally.
        self.failing: str | None = None


def _key(kind: str, repo_id: str) -> str:
    """Where a repository is kept: models as ``org/name``, Spaces as ``spaces/org/name``."""
    return repo_id if kind == "models" else f"{kind}/{repo_id}"


def _etag(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()}"'


class Handler(BaseHTTPRequestHandler):
    state: HubState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    # -- helpers -------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding") == "gzip":
            import gzip

            data = gzip.decompress(data)
        return data

    def _repo(self, repo_id: str) -> Repo | None:
        repo = self.state.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
        return repo

    def _snapshot(self, repo_id: str, revision: str) -> tuple[Repo, str] | None:
        """The repo and the commit ``revision`` names, or None after sending the 404."""
        repo = self._repo(repo_id)
        if repo is None:
            return None
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None
        return repo, sha

    def _base(self) -> str:
        return f"http://{self.headers.get('Host')}"

    # -- routing -------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        self.state.requests.append(f"{self.command} {url.path}")
        if self._fails(url):
            if self.state.failing == "500":
                return self._error(500, "InternalError", "the Hub fell over")
            time.sleep(30)
            return
        if parts[:1] == ["api"] and parts[1:2] in (["models"], ["spaces"]) and len(parts) >= 4:
            repo_id = _key(parts[1], "/".join(parts[2:4]))
            rest = parts[4:]
            if not rest:
                return self._revision(repo_id, "main")
            if rest[0] == "revision":
                return self._revision(repo_id, "/".join(rest[1:]))
            if rest[0] == "tree":
                return self._tree(repo_id, rest[1], parse_qs(url.query))
        if parts[:1] == ["api"]:
            return self._json(200, {"name": "tester", "type": "user", "orgs": []})
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]))
        if len(parts) >= 6 and parts[0] == "spaces" and parts[3] == "resolve":
            return self._resolve("/".join(parts[:3]), parts[4], "/".join(parts[5:]))
        self._error(404, "EntryNotFound", f"No route for {url.path}")

    def _fails(self, url) -> bool:
        """Whether ``state.failing`` applies to this request (never to the zoo's probe)."""
        failing = self.state.failing
        if not failing or (url.path == "/api/models" and "limit=1" in url.query):
            return False
        if failing == "stall-get":
            return self.command == "GET" and "/resolve/" in url.path
        return True

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        self.state.requests.append(f"POST {url.path}")
        body = self._body()
        if parts == ["api", "repos", "create"]:
            return self._create(json.loads(body or b"{}"))
        if parts == ["api", "validate-yaml"]:
            return self._json(200, {"errors": [], "warnings": []})
        if parts[:1] == ["api"] and parts[1:2] in (["models"], ["spaces"]) and len(parts) >= 6:
            repo_id = _key(parts[1], "/".join(parts[2:4]))
            revision = "/".join(parts[5:])
            if parts[4] == "preupload":
                return self._preupload(repo_id, json.loads(body))
            if parts[4] == "commit":
                return self._commit(repo_id, revision, body)
        self._error(404, "EntryNotFound", f"No route for POST {url.path}")

    # -- endpoints -----------------------------------------------------------------------
    def _create(self, payload: dict) -> None:
        repo_id = f"{payload.get('organization') or 'tester'}/{payload['name']}"
        kind = {"space": "spaces", "dataset": "datasets"}.get(payload.get("type", ""), "models")
        repo_id = _key(kind, repo_id)
        url = f"{self._base()}/{repo_id}"
        with self.state.lock:
            if repo_id in self.state.repos:
                return self._json(409, {"error": "You already created this model repo", "url": url})
            repo = Repo(
                private=payload.get("visibility") == "private" or bool(payload.get("private")),
                sdk=payload.get("sdk"),
            )
            repo.commit("main", {".gitattributes": b"*.safetensors filter=lfs\n"}, set(), "init")
            self.state.repos[repo_id] = repo
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _revision(self, repo_id: str, revision: str) -> None:
        found = self._snapshot(repo_id, revision)
        if found is None:
            return
        repo, sha = found
        files = repo.commits[sha]
        self._json(
            200,
            {
                "id": repo_id,
                "modelId": repo_id,
                "sha": sha,
                "private": repo.private,
                "siblings": [{"rfilename": p} for p in sorted(files)],
            },
        )

    def _tree(self, repo_id: str, revision: str, query: dict) -> None:
        found = self._snapshot(repo_id, revision)
        if found is None:
            return
        repo, sha = found
        entries = [
            {"type": "file", "path": p, "size": len(d), "oid": hashlib.sha1(d).hexdigest()}
            for p, d in sorted(repo.commits[sha].items())
        ]
        self._json(200, entries)

    def _resolve(self, repo_id: str, revision: str, path: str) -> None:
        found = self._snapshot(repo_id, revision)
        if found is None:
            return
        repo, sha = found
        data = repo.commits[sha].get(path)
        headers = {"X-Repo-Commit": sha}
        if data is None:
            self.send_response(404)
            for key, value in {
                **headers,
                "X-Error-Code": "EntryNotFound",
                "Content-Length": "0",
            }.items():
                self.send_header(key, value)
            self.end_headers()
            return
        self._send(200, data, {**headers, "ETag": _etag(data)}, "application/octet-stream")

    def _preupload(self, repo_id: str, payload: dict) -> None:
        if self._repo(repo_id) is None:
            return
        files = [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
            for f in payload.get("files", [])
        ]
        self._json(200, {"files": files})

    def _commit(self, repo_id: str, revision: str, body: bytes) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        message, files, deleted = "", {}, set()
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "header":
                message = value.get("summary", "")
            elif item["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] in ("deletedFile", "deletedFolder"):
                deleted.add(value["path"])
            else:
                return self._error(400, "BadRequest", f"unsupported commit item {item['key']}")
        with self.state.lock:
            sha = repo.commit(revision or "main", files, deleted, message)
        self._json(
            200,
            {
                "commitUrl": f"{self._base()}/{repo_id}/commit/{sha}",
                "commitOid": sha,
                "pullRequestUrl": None,
                "success": True,
            },
        )


class HubServer:
    """Runs :class:`Handler` on ``127.0.0.1:port`` in a background thread."""

    def __init__(self, port: int) -> None:
        self.state = HubState()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
