"""A Hugging Face Hub-compatible HTTP server for tests, built on the standard library.

It speaks the part of the Hub's HTTP API that the unmodified `huggingface_hub` client (and through it
`transformers`) uses to create repos, commit files, create branches, validate model-card metadata,
list and download files. Repos live in a folder on disk: content-addressed blobs plus one JSON file
per repo holding its commits (each with a 40-hex id and a full file tree) and its branches, so every
old revision stays downloadable by branch name or commit hash.

Writes and private repos need ``Authorization: Bearer <token>``; refusals are 4xx answers with an
``X-Error-Message`` header and a JSON ``error`` body, never 5xx (the client retries those). Requests
to routes this server does not know are answered 404 and recorded in ``HubServer.unknown_requests``
so a test can prove the client needed nothing more.

Usage::

    with HubServer(tmp_path, tokens={"hf_alice": "alice"}) as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_alice", "HF_HUB_OFFLINE": "0"}
        ...

or from the command line: ``python tests/hub_server.py --root DIR --token hf_alice=alice``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import mimetypes
import os
import re
import tempfile
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

REPO_TYPES = ("model", "dataset", "space")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
INITIAL_GITATTRIBUTES = (
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"
)

# The Hub's pipeline tags (huggingface.js `packages/tasks/src/pipelines.ts`, PIPELINE_DATA keys).
PIPELINE_TAGS = frozenset(
    """biology text-classification token-classification table-question-answering question-answering
    zero-shot-classification translation summarization feature-extraction text-generation text2text-generation
    fill-mask sentence-similarity text-to-speech text-to-audio automatic-speech-recognition audio-to-audio
    audio-classification audio-text-to-text voice-activity-detection depth-estimation image-classification
    object-detection image-segmentation text-to-image image-to-text image-to-image image-to-video
    unconditional-image-generation video-classification reinforcement-learning robotics tabular-classification
    tabular-regression tabular-to-text table-to-text multiple-choice text-ranking text-retrieval
    time-series-forecasting text-to-video image-text-to-text visual-question-answering
    document-question-answering zero-shot-image-classification graph-ml mask-generation
    zero-shot-object-detection text-to-3d image-to-3d image-feature-extraction video-text-to-text
    keypoint-detection visual-document-retrieval any-to-any other""".split()
)


class Refusal(Exception):
    """A 4xx answer: status, message, and the `X-Error-Code` the client maps to an exception."""

    def __init__(self, status: int, message: str, error_code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}


def git_blob_id(content: bytes) -> str:
    """The git object id of a blob, which the Hub uses as the ETag of a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def validate_card_metadata(content: str) -> list[str]:
    """Errors in a README's YAML front matter, checked the way the Hub checks them.

    The YAML must parse to a mapping; list fields must be lists of strings; `pipeline_tag` must be one
    of the Hub's tags; `model-index` must be accepted by `huggingface_hub`'s own parser.
    """
    from huggingface_hub.repocard_data import model_index_to_eval_results

    match = re.match(r"^(---\s*\n)([\s\S]*?)(\n---\s*\n|\n---\s*$)", content)
    if match is None:
        return []
    try:
        metadata = yaml.safe_load(match.group(2))
    except yaml.YAMLError as error:
        return [f"YAML metadata does not parse: {error}"]
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return ["YAML metadata must be a mapping"]
    errors = []
    for key in ("license", "library_name", "pipeline_tag", "model_name"):
        if key in metadata and not isinstance(metadata[key], str):
            errors.append(f'"{key}" must be a string')
    for key in ("tags", "datasets", "metrics", "language", "base_model"):
        value = metadata.get(key)
        if value is not None and not isinstance(value, str):
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                errors.append(f'"{key}" must be a string or a list of strings')
    if isinstance(metadata.get("pipeline_tag"), str) and metadata["pipeline_tag"] not in PIPELINE_TAGS:
        errors.append(f'"pipeline_tag" must be one of the Hub pipeline tags, got {metadata["pipeline_tag"]!r}')
    if "model-index" in metadata:
        try:
            model_index_to_eval_results(metadata["model-index"])
        except Exception as error:  # noqa: BLE001 - any failure of the parser is a metadata error
            errors.append(f'"model-index" is malformed: {error!r}')
    return errors


class RepoStore:
    """Repos on disk: ``blobs/<git blob id>`` and ``repos/<type>s/<namespace>/<name>.json``.

    A repo file holds ``private``, ``branches`` (name -> commit id) and ``commits`` (id -> parent,
    title, message, date, author and the full tree path -> blob id).
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._counter = 0

    # --- storage -------------------------------------------------------------------------------
    def _repo_file(self, repo_type: str, repo_id: str) -> Path:
        return self.root / "repos" / f"{repo_type}s" / f"{repo_id}.json"

    def load(self, repo_type: str, repo_id: str) -> dict | None:
        path = self._repo_file(repo_type, repo_id)
        return json.loads(path.read_text()) if path.is_file() else None

    def save(self, repo_type: str, repo_id: str, repo: dict) -> None:
        path = self._repo_file(repo_type, repo_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(repo, indent=1))
        os.replace(tmp, path)

    def put_blob(self, content: bytes) -> str:
        blob_id = git_blob_id(content)
        path = self.root / "blobs" / blob_id
        if not path.exists():
            tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_bytes(content)
            os.replace(tmp, path)
        return blob_id

    def blob(self, blob_id: str) -> bytes:
        return (self.root / "blobs" / blob_id).read_bytes()

    def blob_size(self, blob_id: str) -> int:
        return (self.root / "blobs" / blob_id).stat().st_size

    # --- commits -------------------------------------------------------------------------------
    def new_commit(self, repo: dict, parent: str | None, tree: dict, title: str, message: str, author: str) -> str:
        """Record a commit in `repo` and return its 40-hex id (unique even for identical trees)."""
        self._counter += 1
        payload = json.dumps([parent, sorted(tree.items()), title, message, time.time_ns(), self._counter])
        oid = hashlib.sha1(payload.encode()).hexdigest()
        repo["commits"][oid] = {
            "parent": parent,
            "tree": dict(tree),
            "title": title,
            "message": message,
            "date": _now(),
            "author": author,
        }
        return oid

    def create_repo(self, repo_type: str, repo_id: str, private: bool, author: str) -> dict:
        repo = {"private": private, "createdAt": _now(), "branches": {}, "commits": {}}
        tree = {".gitattributes": self.put_blob(INITIAL_GITATTRIBUTES)}
        repo["branches"]["main"] = self.new_commit(repo, None, tree, "initial commit", "", author)
        self.save(repo_type, repo_id, repo)
        return repo


def resolve_revision(repo: dict, revision: str) -> str:
    """A branch name (optionally ``refs/heads/...``) or a commit id -> commit id; RevisionNotFound otherwise."""
    name = revision[len("refs/heads/") :] if revision.startswith("refs/heads/") else revision
    if name in repo["branches"]:
        return repo["branches"][name]
    if HEX40.match(revision) and revision in repo["commits"]:
        return revision
    raise Refusal(404, f"Invalid rev id: {revision}", "RevisionNotFound")


class HubServer:
    """A Hub-compatible server on 127.0.0.1 in a background thread; a context manager.

    Args:
        root: folder for the repos (created if missing); a fresh temporary folder if `None`.
        tokens: token -> user name. A user may write to repos under its own name.
        read_only_tokens: tokens (also listed in `tokens`) that may read but not write.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        tokens: dict[str, str] | None = None,
        read_only_tokens: set[str] | frozenset[str] = frozenset(),
        port: int = 0,
    ):
        self._tmp = tempfile.TemporaryDirectory(prefix="hub-server-") if root is None else None
        self.store = RepoStore(Path(root) if root is not None else Path(self._tmp.name))
        self.tokens = dict(tokens or {})
        self.read_only_tokens = set(read_only_tokens)
        self.unknown_requests: list[str] = []
        self.requests: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.hub = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- helpers for tests ---------------------------------------------------------------------
    def repo(self, repo_id: str, repo_type: str = "model") -> dict | None:
        """The stored state of a repo (branches, commits, trees), or `None` if it does not exist."""
        return self.store.load(repo_type, repo_id)

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        """path -> content of every file of `repo_id` at `revision`."""
        repo = self.store.load(repo_type, repo_id)
        if repo is None:
            raise KeyError(repo_id)
        tree = repo["commits"][resolve_revision(repo, revision)]["tree"]
        return {path: self.store.blob(blob_id) for path, blob_id in tree.items()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "attnseq-test-hub"

    # --- plumbing --------------------------------------------------------------------------------
    @property
    def hub(self) -> HubServer:
        return self.server.hub

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict | None = None,
        content_type="application/json",
        length: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status: int, payload, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _refuse(self, refusal: Refusal) -> None:
        headers = {"X-Error-Message": refusal.message, **refusal.headers}
        if refusal.error_code:
            headers["X-Error-Code"] = refusal.error_code
        self._json(refusal.status, {"error": refusal.message}, headers)

    def _dispatch(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        segments = [unquote(part) for part in split.path.split("/")[1:]]
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        self.hub.requests.append(f"{self.command} {split.path}")
        try:
            handled = self._route(segments, query, body)
        except Refusal as refusal:
            self._refuse(refusal)
            return
        except (ValueError, KeyError, TypeError, AttributeError) as error:  # a malformed request: 4xx, never 5xx
            self._refuse(Refusal(400, f"Bad request to {self.command} {split.path}: {error!r}"))
            return
        if not handled:
            self.hub.unknown_requests.append(f"{self.command} {self.path}")
            self._refuse(Refusal(404, f"Route not implemented by the test Hub: {self.command} {split.path}"))

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    # --- auth ----------------------------------------------------------------------------------
    def _user(self) -> str | None:
        header = self.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.hub.tokens:
            raise Refusal(401, "Invalid credentials in Authorization header")
        return self.hub.tokens[token.strip()]

    def _require_write(self, namespace: str, what: str) -> str:
        user = self._user()
        if user is None:
            raise Refusal(
                401, f"Authentication required to {what}: send 'Authorization: Bearer <token>' with a write token"
            )
        token = self.headers["Authorization"].partition(" ")[2].strip()
        if token in self.hub.read_only_tokens:
            raise Refusal(403, f"The token of '{user}' is read-only and cannot {what}")
        if user != namespace:
            raise Refusal(403, f"'{user}' has no write access to the namespace '{namespace}' (cannot {what})")
        return user

    def _load_readable(self, repo_type: str, repo_id: str) -> dict:
        repo = self.hub.store.load(repo_type, repo_id)
        user = self._user()
        if repo is None or (repo["private"] and user != repo_id.split("/")[0]):
            status = 401 if repo is not None and user is None else 404
            raise Refusal(status, f"Repository not found: {repo_id}", "RepoNotFound")
        return repo

    def _load_writable(self, repo_type: str, repo_id: str, what: str) -> tuple[dict, str]:
        user = self._require_write(repo_id.split("/")[0], what)
        repo = self.hub.store.load(repo_type, repo_id)
        if repo is None:
            raise Refusal(404, f"Repository not found: {repo_id}", "RepoNotFound")
        return repo, user

    # --- routing -------------------------------------------------------------------------------
    def _route(self, seg: list[str], query: dict, body: bytes) -> bool:
        method = self.command
        if seg[:1] == ["api"]:
            rest = seg[1:]
            if method == "POST" and rest == ["repos", "create"]:
                return self._create_repo(json.loads(body or b"{}"))
            if method == "DELETE" and rest == ["repos", "delete"]:
                return self._delete_repo(json.loads(body or b"{}"))
            if method == "POST" and rest == ["validate-yaml"]:
                return self._validate_yaml(json.loads(body or b"{}"))
            if method == "GET" and rest == ["whoami-v2"]:
                return self._whoami()
            if len(rest) >= 3 and rest[0].rstrip("s") in REPO_TYPES and rest[0].endswith("s"):
                repo_type, repo_id, tail = rest[0][:-1], "/".join(rest[1:3]), rest[3:]
                return self._repo_api(method, repo_type, repo_id, tail, query, body)
            return False
        repo_type = "model"
        if seg[:1] in (["datasets"], ["spaces"]):
            repo_type, seg = seg[0][:-1], seg[1:]
        if method in ("GET", "HEAD") and len(seg) >= 5 and seg[2] == "resolve":
            return self._resolve(repo_type, "/".join(seg[:2]), seg[3], "/".join(seg[4:]))
        return False

    def _repo_api(self, method: str, repo_type: str, repo_id: str, tail: list[str], query: dict, body: bytes) -> bool:
        if method == "GET" and not tail:
            return self._repo_info(repo_type, repo_id, "main", query)
        if method == "GET" and len(tail) == 2 and tail[0] == "revision":
            return self._repo_info(repo_type, repo_id, tail[1], query)
        if method == "GET" and len(tail) >= 2 and tail[0] == "tree":
            return self._tree(repo_type, repo_id, tail[1], "/".join(tail[2:]), query)
        if method == "POST" and len(tail) == 2 and tail[0] == "paths-info":
            form = parse_qs(body.decode())
            return self._paths_info(repo_type, repo_id, tail[1], form.get("paths", []))
        if method == "GET" and tail == ["refs"]:
            return self._refs(repo_type, repo_id)
        if method == "GET" and len(tail) == 2 and tail[0] == "commits":
            return self._commits(repo_type, repo_id, tail[1])
        if method == "POST" and len(tail) == 2 and tail[0] == "preupload":
            return self._preupload(repo_type, repo_id, tail[1], json.loads(body or b"{}"))
        if method == "POST" and len(tail) == 2 and tail[0] == "commit":
            return self._commit(repo_type, repo_id, tail[1], query, body)
        if method in ("POST", "DELETE") and len(tail) == 2 and tail[0] == "branch":
            return self._branch(method, repo_type, repo_id, tail[1], json.loads(body or b"{}"))
        return False

    # --- account and repos ---------------------------------------------------------------------
    def _whoami(self) -> bool:
        user = self._user()
        if user is None:
            raise Refusal(401, "Authentication required: no token was sent")
        token = self.headers["Authorization"].partition(" ")[2].strip()
        role = "read" if token in self.hub.read_only_tokens else "write"
        self._json(
            200,
            {
                "type": "user",
                "id": user,
                "name": user,
                "fullname": user,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": role}},
            },
        )
        return True

    def _create_repo(self, payload: dict) -> bool:
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise Refusal(400, f"Invalid repo type {repo_type!r}; allowed: {', '.join(REPO_TYPES)}")
        user = self._user()
        namespace = payload.get("organization") or user
        name = payload.get("name") or ""
        if namespace is None:
            raise Refusal(401, "Authentication required to create a repo: send 'Authorization: Bearer <token>'")
        self._require_write(namespace, "create a repo")
        if not NAME.match(name) or not NAME.match(namespace):
            raise Refusal(400, f"Invalid repo name {namespace}/{name}: use letters, digits, '-', '_' and '.'")
        repo_id = f"{namespace}/{name}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.hub.url}/{prefix}{repo_id}"
        with self.hub.store.lock:
            if self.hub.store.load(repo_type, repo_id) is not None:
                self._json(
                    409,
                    {"error": "You already created this model repo", "url": url},
                    {"X-Error-Message": "You already created this model repo"},
                )
                return True
            private = payload.get("visibility", "private" if payload.get("private") else "public") == "private"
            self.hub.store.create_repo(repo_type, repo_id, private, namespace)
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})
        return True

    def _delete_repo(self, payload: dict) -> bool:
        repo_type = payload.get("type") or "model"
        namespace = payload.get("organization") or self._user()
        repo_id = f"{namespace}/{payload.get('name')}"
        self._load_writable(repo_type, repo_id, "delete a repo")
        with self.hub.store.lock:
            self.hub.store._repo_file(repo_type, repo_id).unlink()
        self._json(200, {})
        return True

    def _validate_yaml(self, payload: dict) -> bool:
        errors = validate_card_metadata(payload.get("content", ""))
        if errors:
            self._json(
                400,
                {"errors": [{"message": message} for message in errors], "warnings": []},
                {"X-Error-Message": "; ".join(errors)},
            )
        else:
            self._json(200, {"errors": [], "warnings": []})
        return True

    # --- reading -------------------------------------------------------------------------------
    def _repo_info(self, repo_type: str, repo_id: str, revision: str, query: dict) -> bool:
        repo = self._load_readable(repo_type, repo_id)
        oid = resolve_revision(repo, revision)
        commit = repo["commits"][oid]
        store = self.hub.store
        siblings = [
            {"rfilename": path, "size": store.blob_size(blob), "blobId": blob}
            for path, blob in sorted(commit["tree"].items())
        ]
        info = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "sha": oid,
            "lastModified": commit["date"],
            "createdAt": repo["createdAt"],
            "private": repo["private"],
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
        }
        if "README.md" in commit["tree"]:
            card = store.blob(commit["tree"]["README.md"]).decode("utf-8", "replace")
            match = re.match(r"^---\s*\n([\s\S]*?)\n---", card)
            metadata = yaml.safe_load(match.group(1)) if match else None
            if isinstance(metadata, dict):
                info["cardData"] = metadata
                info["tags"] = list(metadata.get("tags") or [])
                for key in ("pipeline_tag", "library_name"):
                    if key in metadata:
                        info[key] = metadata[key]
        if "config.json" in commit["tree"]:
            try:
                config = json.loads(store.blob(commit["tree"]["config.json"]))
                info["config"] = {
                    key: config[key] for key in ("model_type", "architectures", "auto_map") if key in config
                }
            except ValueError:
                pass
        self._json(200, info)
        return True

    def _entries(self, tree: dict, prefix: str, recursive: bool) -> list[dict]:
        store = self.hub.store
        prefix = prefix.strip("/")
        base = f"{prefix}/" if prefix else ""
        files, folders = [], {}
        for path, blob in sorted(tree.items()):
            if not path.startswith(base):
                continue
            rest = path[len(base) :]
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                if recursive or depth == 1:
                    folder = base + "/".join(parts[:depth])
                    folders.setdefault(folder, hashlib.sha1(folder.encode()).hexdigest())
            if recursive or len(parts) == 1:
                files.append({"type": "file", "oid": blob, "size": store.blob_size(blob), "path": path})
        listed = [{"type": "directory", "oid": oid, "size": 0, "path": path} for path, oid in sorted(folders.items())]
        return listed + files

    def _tree(self, repo_type: str, repo_id: str, revision: str, path: str, query: dict) -> bool:
        repo = self._load_readable(repo_type, repo_id)
        tree = repo["commits"][resolve_revision(repo, revision)]["tree"]
        if path and path not in tree and not any(name.startswith(path.strip("/") + "/") for name in tree):
            raise Refusal(404, f"Entry not found: {path}", "EntryNotFound")
        recursive = query.get("recursive", "false").lower() in ("true", "1")
        self._json(200, self._entries(tree, path, recursive))
        return True

    def _paths_info(self, repo_type: str, repo_id: str, revision: str, paths: list[str]) -> bool:
        repo = self._load_readable(repo_type, repo_id)
        tree = repo["commits"][resolve_revision(repo, revision)]["tree"]
        store = self.hub.store
        answer = []
        for path in paths:
            path = path.strip("/")
            if path in tree:
                answer.append({"type": "file", "oid": tree[path], "size": store.blob_size(tree[path]), "path": path})
            elif any(name.startswith(path + "/") for name in tree):
                answer.append(
                    {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}
                )
        self._json(200, answer)
        return True

    def _refs(self, repo_type: str, repo_id: str) -> bool:
        repo = self._load_readable(repo_type, repo_id)
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
            for name, oid in sorted(repo["branches"].items())
        ]
        self._json(200, {"branches": branches, "tags": [], "converts": [], "pullRequests": []})
        return True

    def _commits(self, repo_type: str, repo_id: str, revision: str) -> bool:
        repo = self._load_readable(repo_type, repo_id)
        oid, history = resolve_revision(repo, revision), []
        while oid is not None:
            commit = repo["commits"][oid]
            history.append(
                {
                    "id": oid,
                    "authors": [{"user": commit["author"]}],
                    "date": commit["date"],
                    "title": commit["title"],
                    "message": commit["message"],
                }
            )
            oid = commit["parent"]
        self._json(200, history)
        return True

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> bool:
        repo = self._load_readable(repo_type, repo_id)
        oid = resolve_revision(repo, revision)
        tree = repo["commits"][oid]["tree"]
        if path not in tree:
            raise Refusal(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": oid})
        content = self.hub.store.blob(tree[path])
        name = path.rsplit("/", 1)[-1]
        headers = {
            "X-Repo-Commit": oid,
            "ETag": f'"{tree[path]}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}; filename=\"{name}\";",
        }
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        status, body = 200, content
        byte_range = re.match(r"^bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
        if byte_range and self.command == "GET":
            start = int(byte_range.group(1) or 0)
            end = int(byte_range.group(2)) if byte_range.group(2) else len(content) - 1
            if start >= len(content) and len(content) > 0:
                raise Refusal(
                    416,
                    f"Range {self.headers['Range']} outside a file of {len(content)} bytes",
                    headers={"Content-Range": f"bytes */{len(content)}"},
                )
            status, body = 206, content[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{len(content)}"
        self._send(status, body, headers, content_type)
        return True

    # --- writing -------------------------------------------------------------------------------
    def _branch_head(self, repo: dict, revision: str) -> str:
        name = revision[len("refs/heads/") :] if revision.startswith("refs/heads/") else revision
        if name not in repo["branches"]:
            if HEX40.match(revision) and revision in repo["commits"]:
                raise Refusal(400, f"Cannot commit to a commit id ({revision}); commit to a branch")
            raise Refusal(404, f"Invalid rev id: {revision} (no such branch; create it first)", "RevisionNotFound")
        return name

    def _preupload(self, repo_type: str, repo_id: str, revision: str, payload: dict) -> bool:
        repo, _ = self._load_writable(repo_type, repo_id, f"upload to {repo_id}")
        tree = repo["commits"][repo["branches"][self._branch_head(repo, revision)]]["tree"]
        files = [
            {"path": item["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": tree.get(item["path"])}
            for item in payload.get("files", [])
        ]
        self._json(200, {"files": files, "commitOid": repo["branches"].get(revision)})
        return True

    def _commit(self, repo_type: str, repo_id: str, revision: str, query: dict, body: bytes) -> bool:
        if query.get("create_pr") in ("1", "true", "True"):
            raise Refusal(400, "Pull requests are not supported by this Hub; commit to a branch instead")
        store = self.hub.store
        with store.lock:
            repo, user = self._load_writable(repo_type, repo_id, f"commit to {repo_id}")
            branch = self._branch_head(repo, revision)
            head = repo["branches"][branch]
            tree = dict(repo["commits"][head]["tree"])
            header = None
            pending: list[tuple[str, str, bytes | None]] = []
            for line in body.splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                key, value = item.get("key"), item.get("value", {})
                if key == "header":
                    header = value
                elif key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise Refusal(400, f"Unsupported encoding {value.get('encoding')!r} for {value.get('path')}")
                    pending.append(("add", value["path"], base64.b64decode(value["content"])))
                elif key in ("deletedFile", "deletedFolder"):
                    pending.append((key, value["path"], None))
                else:
                    raise Refusal(400, f"Unsupported commit operation {key!r}: this Hub stores regular files only")
            if header is None or not header.get("summary"):
                raise Refusal(400, "The commit payload needs a header with a summary")
            parent = header.get("parentCommit")
            if parent and parent != head:
                raise Refusal(412, "A commit has happened since. Please refresh and try again.")
            for action, path, content in pending:
                if action == "add":
                    if not path or path.startswith("/") or ".." in path.split("/"):
                        raise Refusal(400, f"Invalid path in repo: {path!r}")
                    tree[path] = store.put_blob(content)
                elif action == "deletedFile":
                    if path not in tree:
                        raise Refusal(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                    del tree[path]
                else:
                    prefix = path.rstrip("/") + "/"
                    for name in [name for name in tree if name.startswith(prefix)]:
                        del tree[name]
            oid = store.new_commit(repo, head, tree, header["summary"], header.get("description", ""), user)
            repo["branches"][branch] = oid
            store.save(repo_type, repo_id, repo)
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        self._json(
            200,
            {
                "success": True,
                "commitOid": oid,
                "commitUrl": f"{self.hub.url}/{prefix}{repo_id}/commit/{oid}",
                "pullRequestUrl": None,
            },
        )
        return True

    def _branch(self, method: str, repo_type: str, repo_id: str, branch: str, payload: dict) -> bool:
        with self.hub.store.lock:
            repo, _ = self._load_writable(repo_type, repo_id, f"change branches of {repo_id}")
            if method == "DELETE":
                if branch == "main" or branch not in repo["branches"]:
                    raise Refusal(400 if branch == "main" else 404, f"Cannot delete branch {branch!r}")
                del repo["branches"][branch]
            else:
                if branch in repo["branches"]:
                    raise Refusal(409, f"Reference already exists: refs/heads/{branch}")
                if not re.match(r"^[A-Za-z0-9._/-]+$", branch) or HEX40.match(branch):
                    raise Refusal(400, f"Invalid branch name {branch!r}")
                repo["branches"][branch] = resolve_revision(repo, payload.get("startingPoint") or "main")
            self.hub.store.save(repo_type, repo_id, repo)
        self._json(200, {})
        return True


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted; prints the URL on the first line of stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="folder for the repos (default: a temporary folder)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", action="append", default=[], metavar="TOKEN=USER")
    args = parser.parse_args(argv)
    tokens = dict(item.split("=", 1) for item in args.token)
    server = HubServer(args.root, tokens=tokens, port=args.port)
    print(server.url, flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
