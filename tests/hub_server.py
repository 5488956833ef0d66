"""A local stand-in for the Hugging Face hub: real HTTP on 127.0.0.1, the hub's URL layout.

`/{repo}/resolve/{revision}/{path}` answers like the hub: large (LFS) files with a 302 to their
storage URL and the `X-Linked-Etag` (sha256) / `X-Linked-Size` headers, small files directly with
their git blob sha1 as `ETag`. The storage URL honours `Range`, and can be told to cut the first
transfer of a file after some bytes (as a dropped connection does).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

LFS_THRESHOLD = 10_000  # bytes; larger files are served as LFS files (weights), smaller from git


@dataclass
class FakeHub:
    files: dict[tuple[str, str, str], bytes] = field(default_factory=dict)  # (repo, rev, path)
    cut_after: dict[str, int] = field(default_factory=dict)  # path -> bytes, first GET only
    lie_about: set[str] = field(default_factory=set)  # paths whose X-Linked-Etag is wrong
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, Range
    server: ThreadingHTTPServer | None = None

    def add(self, repo: str, path: str, data: bytes, revision: str = "main") -> None:
        self.files[(repo, revision, path)] = data

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path, self.headers.get("Range", "")))
                if self.path.startswith("/cdn/"):
                    return self._storage(self.path.removeprefix("/cdn/"), body)
                repo_and_rest = unquote(self.path.lstrip("/"))
                found = None
                for (repo, revision, path), data in hub.files.items():
                    if repo_and_rest == f"{repo}/resolve/{revision}/{path}":
                        found = (path, data)
                if found is None:
                    self.send_error(404, "Entry not found")
                    return
                path, data = found
                if len(data) > LFS_THRESHOLD:
                    sha = hashlib.sha256(data).hexdigest()
                    if path in hub.lie_about:
                        sha = "0" * 64
                    self.send_response(302)
                    self.send_header("Location", f"/cdn/{path}")
                    self.send_header("X-Linked-Etag", f'"{sha}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                blob = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
                self.send_response(200)
                self.send_header("ETag", f'"{blob}"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _storage(self, path: str, body: bool) -> None:
                path = unquote(path)
                data = next((d for (_, _, p), d in hub.files.items() if p == path), None)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if ranged := self.headers.get("Range"):
                    start = int(ranged.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if not body:
                    return
                cut = hub.cut_after.pop(path, None)
                if cut is not None:  # send part of the body, then drop the connection
                    self.wfile.write(data[start:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
