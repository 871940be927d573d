#!/usr/bin/env python3
"""exec_embed_numpy.py [--dim D] [--dtype float16|float32|float64]: an
embedding program for the exec operator kind: reads a UTF-8 text on stdin
and writes embed_server.embed(text, D) (default 16) to stdout as a NumPy
.npy vector of shape (D,)."""
import argparse
import io
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from embed_server import embed  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--dim", type=int, default=16)
ap.add_argument("--dtype", default="float32")
a = ap.parse_args()
text = sys.stdin.buffer.read().decode("utf-8")
buf = io.BytesIO()
np.save(buf, np.asarray(embed(text, a.dim), dtype=a.dtype))
sys.stdout.buffer.write(buf.getvalue())
