"""A tiny OpenAI-compatible server on loopback for tests: streamed chat completions (or an error status) from
a function of the request body, and the bodies it received."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[dict[str, Any]], tuple[int, str]]


class Handler(BaseHTTPRequestHandler):
    answer: Answer
    requests: list[dict[str, Any]]
    # Seconds between streamed chunks: a model's pace, so that a stage's bar has chunks to move with (the
    # pipeline merges progress events closer than 50 ms apart). Not a synchronisation: nothing waits on it.
    chunk_seconds: float = 0.0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        status, text = self.answer(body)
        if status != 200:
            payload = json.dumps({"error": {"message": text, "type": "server_error"}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for index in range(0, len(text), 8):
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {"index": 0, "delta": {"content": text[index : index + 8]}, "finish_reason": None}
                ],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if self.chunk_seconds:
                self.wfile.flush()
                time.sleep(self.chunk_seconds)
        self.wfile.write(b"data: [DONE]\n\n")


def serve(answer: Answer, chunk_seconds: float = 0.0) -> tuple[ThreadingHTTPServer, list[dict[str, Any]]]:
    """A started server answering with ``answer``, and the list its request bodies are appended to."""
    requests: list[dict[str, Any]] = []
    handler = type(
        "Handler",
        (Handler,),
        {"answer": staticmethod(answer), "requests": requests, "chunk_seconds": chunk_seconds},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, requests
