#!/usr/bin/env python3
"""exec_stats_json.py: an exec program with output=json: reads stdin and
prints {"text.bytes": n, "text.lines": n, "text.words": n, "text.sha256":
hex, "text.utf8": bool, "text.namespace": $AIFS_NAMESPACE}."""
import hashlib
import json
import os
import sys

data = sys.stdin.buffer.read()
try:
    text, utf8 = data.decode("utf-8"), True
except UnicodeDecodeError:
    text, utf8 = data.decode("latin-1"), False
print(json.dumps({"text.bytes": len(data), "text.lines": data.count(b"\n"),
                  "text.words": len(text.split()), "text.sha256": hashlib.sha256(data).hexdigest(),
                  "text.utf8": utf8, "text.namespace": os.environ.get("AIFS_NAMESPACE", "")}))
