#!/usr/bin/python3
"""Generates the SDK's gRPC stubs from the repository's proto/ directory.

    gen_protos.py --out DIR [--proto DIR]

writes DIR/aifs/v1/{__init__,aifs_pb2,aifs_pb2_grpc}.py: the package
`aifs.v1` that `aifs/__init__.py` finds next to the hand-written SDK (in an
installed package they sit side by side; in a build tree DIR is put on
sys.path and `aifs` extends its __path__ to it).

Messages come from the system `protoc` (protobuf-compiler 3.21 on Debian 12,
the same release as the python3-protobuf runtime, so the generated code and the
runtime agree). Service stubs come from `grpc_python_plugin`
(protobuf-compiler-grpc, the same release as python3-grpcio); without it from
python3-grpc-tools, whose bundled protoc (3.6 era) predates proto3 `optional`:
it is then run on a copy with the `optional` labels dropped, which does not
change the stub code (stubs only name the message classes). Nothing is ever
edited by hand; `google/rpc` (the error details) is not generated at all:
`aifs.errors` decodes its three fields itself so that the SDK never registers
`google.rpc.*` in the default descriptor pool, where googleapis-common-protos
may already have put its own copy.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
API = "aifs/v1/aifs.proto"


def default_proto_dir():
    """proto/ of the repository this package lives in, or $AIFS_PROTO_DIR."""
    return os.environ.get("AIFS_PROTO_DIR") or os.path.join(HERE, "..", "proto")


def generate(out, proto=None):
    """Writes the stubs under `out`; returns a one-line description of the tools."""
    proto = os.path.abspath(proto or default_proto_dir())
    src = os.path.join(proto, API)
    if not os.path.isfile(src):
        raise SystemExit("gen_protos: %s not found (set AIFS_PROTO_DIR to the repository's proto/)"
                         % src)
    protoc = shutil.which("protoc")
    if not protoc:
        raise SystemExit("gen_protos: protoc not found (apt-get install protobuf-compiler)")
    pkg = os.path.join(out, "aifs", "v1")
    os.makedirs(pkg, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aifs-gen-") as tmp:
        subprocess.run([protoc, "-I" + proto, "--python_out=" + tmp, API], check=True)
        plugin = shutil.which("grpc_python_plugin")
        if plugin:
            subprocess.run([protoc, "-I" + proto, "--plugin=protoc-gen-grpc_python=" + plugin,
                            "--grpc_python_out=" + tmp, API], check=True)
            tools = "protoc + grpc_python_plugin"
        else:
            copy = os.path.join(tmp, "noopt")
            os.makedirs(os.path.join(copy, "aifs", "v1"))
            with open(src) as f:
                text = re.sub(r"^(\s*)optional\s+", r"\1", f.read(), flags=re.M)
            with open(os.path.join(copy, API), "w") as f:
                f.write(text)
            subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + copy,
                            "--grpc_python_out=" + tmp, API], check=True)
            tools = "protoc + grpc_tools.protoc (stubs from a copy without `optional`)"
        for name in ("aifs_pb2.py", "aifs_pb2_grpc.py"):
            shutil.copyfile(os.path.join(tmp, "aifs", "v1", name), os.path.join(pkg, name))
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write('"""Generated from proto/aifs/v1/aifs.proto by gen_protos.py; do not edit."""\n')
    return tools


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--proto", default=None)
    args = ap.parse_args()
    print("gen_protos: %s -> %s" % (generate(args.out, args.proto), args.out))


if __name__ == "__main__":
    main()
