"""A local stand-in for the Hugging Face hub, on 127.0.0.1, for huggingface_hub's download path.

It answers the requests ``snapshot_download`` makes (repo info, the recursive tree listing, HEAD
and ranged GET of ``/{repo}/resolve/{revision}/{file}``) with the headers the real hub sends
(``X-Repo-Commit``, ``ETag``/``X-Linked-Etag``, ``X-Error-Code``), so the real client code runs:
its retries, its resumable ``.incomplete`` files, its cache layout. It can also misbehave on
purpose: cut a download off halfway, refuse a gated repo without a token, not know a repo.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

LFS_MIN = 1024  # files at least this big are served like LFS files (sha256 etag, lfs tree entry)


@dataclass
class Repo:
    """One model repo: its commit hash and files (name -> bytes)."""

    commit: str
    files: dict[str, bytes]
    gated: bool = False


@dataclass
class Request:
    """What the hub saw (never the token itself: only whether one came)."""

    method: str
    path: str
    range: str | None
    authorized: bool


@dataclass
class FakeHub:
    """The server's state; the handler reads it, tests change it between runs."""

    token: str = "hf_fake_secret_token_0123456789"
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    cut_file: str | None = None  # the file the network misbehaves on
    cut_at: int = 0  # a cut GET sends the body only up to this byte, then drops the connection
    cuts_left: int = 0  # how many GETs of cut_file are cut
    fail_resume: bool = False  # a ranged GET of cut_file (a resume) gets 500: an outage
    url: str = ""

    def add_repo(self, repo_id: str, files: dict[str, bytes], gated: bool = False) -> Repo:
        commit = hashlib.sha1(repo_id.encode() + "\0".join(sorted(files)).encode()).hexdigest()
        self.repos[repo_id] = Repo(commit, files, gated)
        return self.repos[repo_id]

    def add_folder(self, repo_id: str, folder: Path, gated: bool = False) -> Repo:
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        return self.add_repo(repo_id, files, gated)


RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<what>revision|tree)/(?P<rev>[^/]+)")


def _etag(data: bytes) -> str:
    if len(data) >= LFS_MIN:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git blob id


class Handler(BaseHTTPRequestHandler):
    """Routes one request against ``self.server.hub``."""

    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def log_message(self, format, *args):
        pass

    @property
    def hub(self) -> FakeHub:
        return self.server.hub  # type: ignore[attr-defined]

    def do_HEAD(self):
        self._route(head=True)

    def do_GET(self):
        self._route(head=False)

    # --- answers ----------------------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head=False):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, data, head=False):
        self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json"}, head)

    def _error(self, status: int, code: str, message: str, head=False):
        self._send(
            status,
            json.dumps({"error": message}).encode(),
            {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"},
            head,
        )

    def _authorized(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.hub.token}"

    def _route(self, head: bool):
        path = unquote(urlparse(self.path).path)
        self.hub.requests.append(
            Request(self.command, path, self.headers.get("Range"), self._authorized())
        )
        match = API.match(path) or RESOLVE.match(path)
        if not match:
            return self._error(404, "EntryNotFound", f"no route for {path}", head)
        repo = self.hub.repos.get(match["repo"])
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found", head)
        if repo.gated and not self._authorized():
            return self._error(
                401,
                "GatedRepo",
                f"Access to model {match['repo']} is restricted. You must have access to it "
                "and be authenticated to access it. Please log in.",
                head,
            )
        if match["rev"] not in ("main", repo.commit):
            return self._error(404, "RevisionNotFound", "Invalid rev id", head)
        if "what" in match.groupdict():
            return self._api(match["repo"], repo, match["what"], head)
        return self._file(repo, match["file"], head)

    def _api(self, repo_id: str, repo: Repo, what: str, head: bool):
        if what == "revision":
            return self._json(
                {
                    "id": repo_id,
                    "sha": repo.commit,
                    "private": False,
                    "gated": "auto" if repo.gated else False,
                    "siblings": [{"rfilename": n} for n in repo.files],
                },
                head,
            )
        entries = []
        for name, data in repo.files.items():
            entry = {
                "type": "file",
                "path": name,
                "size": len(data),
                "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
            }
            if len(data) >= LFS_MIN:
                entry["lfs"] = {
                    "oid": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                }
            entries.append(entry)
        return self._json(entries, head)

    def _file(self, repo: Repo, name: str, head: bool):
        data = repo.files.get(name)
        if data is None:
            return self._error(404, "EntryNotFound", f"{name} does not exist", head)
        headers = {
            "X-Repo-Commit": repo.commit,
            "ETag": f'"{_etag(data)}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if len(data) >= LFS_MIN:
            headers["X-Linked-Etag"] = f'"{_etag(data)}"'
            headers["X-Linked-Size"] = len(data)
        start = 0
        rng = re.match(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if rng and not head:
            start = int(rng.group(1))
        ours = self.hub.cut_file == name and not head
        if ours and start and self.hub.fail_resume:
            return self._error(500, "Internal", "the storage backend is unavailable")
        cut = ours and self.hub.cuts_left > 0 and start < self.hub.cut_at
        if cut:
            self.hub.cuts_left -= 1
        status = 206 if start else 200
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if not cut:
            return self._send(status, body, headers, head)
        # Promise the whole body, send part of it, drop the connection: a network cut.
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(data[start : self.hub.cut_at])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


class Server:
    """A running fake hub; use as a context manager, point HF_ENDPOINT at ``.url``."""

    def __init__(self, hub: FakeHub | None = None):
        self.hub = hub or FakeHub()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.hub = self.hub  # type: ignore[attr-defined]
        self.hub.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self.hub

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
