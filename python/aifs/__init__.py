"""AIFS Python SDK: a client for `aifs serve` over gRPC.

    import aifs, numpy as np
    c = aifs.connect("127.0.0.1:50051", token="@admin.token")
    r = c.put("ml", np.eye(3, dtype=np.float32), metadata={"split": "train"})
    c.get_tensor("ml", r.id)            # -> the array back, decoded from Arrow IPC

Modules: client (Client, connect, Transaction, EventStream), errors (one
exception class per gRPC code), tensor (Arrow IPC <-> NumPy), proofs
(offline snapshot/proof verification), tokens (macaroons, offline), torch
(PyTorch datasets; imported on demand). See docs/python.md.
"""
# The generated stubs (package aifs.v1) live next to this file in an installed
# package, or in a build tree directory on sys.path (gen_protos.py --out DIR):
# extend the package path to every `aifs` directory on sys.path.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)

from . import errors, proofs, tensor, tokens  # noqa: E402
from .client import Client, EventStream, Transaction, connect, exists, prefix  # noqa: E402
from .errors import (AifsError, Aborted, AlreadyExists, Cancelled, DataLoss,  # noqa: E402
                     DeadlineExceeded, FailedPrecondition, Internal, InvalidArgument, NotFound,
                     OutOfRange, PermissionDenied, ProofError, ResourceExhausted,
                     Unauthenticated, Unavailable, Unimplemented, Unknown)
from .types import (Asset, Branch, Diff, Event, Hit, Lineage, Namespace, PutResult,  # noqa: E402
                    Snapshot, Space, Tag)

__version__ = "0.1.0"
