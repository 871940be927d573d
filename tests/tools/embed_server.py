#!/usr/bin/env python3
"""embed_server.py [--port N] [--dim D] [--log FILE]: an OpenAI-compatible
embeddings server for tests, on 127.0.0.1 (port 0: any free port). Prints
"PORT <n>" on stdout once it listens, then serves until killed.

POST /v1/embeddings (any path ending in /embeddings)
    {"model": M, "input": [texts] or "text", "encoding_format": "float"}
    -> {"object": "list", "model": M, "data": [{"object": "embedding",
        "index": i, "embedding": [floats]}], "usage": {...}}
    Vectors are embed(text, dim): deterministic and shaped like real
    embeddings (texts sharing words are near each other).

POST /control  {"mode": ..., ...}: replaces the behaviour (fields not given
    take their defaults):
    "mode": "ok"         answer normally (default)
            "down"       close every connection without an answer
            "error"      answer every request with HTTP "status" (503)
            "slow"       sleep "sleep" seconds (5), then answer normally
            "wrong-dim"  answer vectors of dim + 1 values
            "garbage"    answer 200 with a body that is not JSON
            "auth"       expect "Authorization: Bearer <token>"; else 401
    "token": the bearer token for mode auth
    "poison": a word; a request with an input containing it is answered
              400 with an OpenAI-style error body
    "shuffle": true: answer the data entries in reverse order

Every request to an embeddings path is logged to --log as one JSON line:
{"path", "content_type", "has_auth", "auth_ok" (mode auth only), "model",
"input", "encoding_format"} (the Authorization value itself is never
written).
"""
import argparse
import hashlib
import json
import math
import random
import re
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORD = re.compile(r"\w+", re.UNICODE)


def word_vector(word, dim):
    """A pseudo-random unit vector seeded by the word's BLAKE2b hash."""
    seed = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
    rng = random.Random(seed)
    v = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def embed(text, dim):
    """The normalized sum of the text's lowercase words' vectors (a hashed
    bag of words); a text without words uses its whole self as the word."""
    words = WORD.findall(text.lower()) or [text]
    acc = [0.0] * dim
    for w in words:
        for i, x in enumerate(word_vector(w, dim)):
            acc[i] += x
    n = math.sqrt(sum(x * x for x in acc)) or 1.0
    return [x / n for x in acc]


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.control = {}
        self.log = None

    def get(self):
        with self.lock:
            return dict(self.control)


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body
    # waits for the client's delayed ACK (40 ms a request), which the
    # embedding servers it stands in for do not do.
    disable_nagle_algorithm = True
    dim = 16

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def do_POST(self):
        body = self.read_body()
        if self.path == "/control":
            with STATE.lock:
                STATE.control = json.loads(body or b"{}")
            return self.reply(200, {"ok": True})
        if not self.path.rstrip("/").endswith("/embeddings"):
            return self.reply(404, {"error": {"message": "no such path " + self.path}})
        c = STATE.get()
        mode = c.get("mode", "ok")
        try:
            req = json.loads(body)
        except ValueError:
            req = {}
        auth = self.headers.get("Authorization")
        entry = {"path": self.path, "content_type": self.headers.get("Content-Type"),
                 "has_auth": auth is not None, "model": req.get("model"),
                 "input": req.get("input"), "encoding_format": req.get("encoding_format")}
        if mode == "auth":
            entry["auth_ok"] = auth == "Bearer " + c.get("token", "")
        if STATE.log:
            with STATE.lock, open(STATE.log, "a") as f:
                f.write(json.dumps(entry) + "\n")
        if mode == "down":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if mode == "error":
            return self.reply(int(c.get("status", 503)), {"error": {"message": "unavailable"}})
        if mode == "slow":
            time.sleep(float(c.get("sleep", 5)))
        if mode == "auth" and not entry["auth_ok"]:
            return self.reply(401, {"error": {"message": "invalid api key",
                                              "type": "invalid_request_error"}})
        if mode == "garbage":
            return self.reply(200, b"<html>this is not json", "text/html")
        texts = req.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return self.reply(400, {"error": {"message": "input must be a string or strings"}})
        poison = c.get("poison")
        if poison and any(poison in t for t in texts):
            return self.reply(400, {"error": {
                "message": "input rejected: contains \x01\"%s\"\n(line two)" % poison,
                "type": "invalid_request_error"}})
        dim = self.dim + (1 if mode == "wrong-dim" else 0)
        data = [{"object": "embedding", "index": i, "embedding": embed(t, dim)}
                for i, t in enumerate(texts)]
        if c.get("shuffle"):
            data.reverse()
        self.reply(200, {"object": "list", "model": req.get("model"), "data": data,
                         "usage": {"prompt_tokens": 0, "total_tokens": 0}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--log")
    a = ap.parse_args()
    Handler.dim = a.dim
    STATE.log = a.log
    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            # A client that went away mid-answer (killed, timed out) is what
            # the fault tests do; anything else is reported as usual.
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", a.port), Handler)
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
