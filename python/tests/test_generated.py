"""The stub generator: with grpc_python_plugin (the normal path) and with the
python3-grpc-tools fallback (its old protoc cannot read proto3 `optional`),
the service stubs name the same methods, and the messages come from the
system protoc either way."""
import os
import re
import shutil
import subprocess
import sys

import pytest

import gen_protos


def methods(path):
    with open(path) as f:
        return sorted(re.findall(r"self\.(\w+) = channel\.(\w+)\(", f.read()))


def test_plugin_and_fallback_agree(tmp_path):
    if shutil.which("grpc_python_plugin") is None:
        pytest.skip("no grpc_python_plugin")
    try:
        import grpc_tools  # noqa: F401
    except ImportError:
        pytest.skip("no python3-grpc-tools")
    gen_protos.generate(str(tmp_path / "plugin"))
    only_protoc = tmp_path / "bin"
    only_protoc.mkdir()
    os.symlink(shutil.which("protoc"), only_protoc / "protoc")
    env = dict(os.environ, PATH=str(only_protoc))
    out = subprocess.run([sys.executable, gen_protos.__file__, "--out", str(tmp_path / "tools")],
                         env=env, check=True, stdout=subprocess.PIPE).stdout.decode()
    assert "grpc_tools" in out
    a = methods(tmp_path / "plugin" / "aifs" / "v1" / "aifs_pb2_grpc.py")
    b = methods(tmp_path / "tools" / "aifs" / "v1" / "aifs_pb2_grpc.py")
    assert a == b and len(a) > 60
    with open(tmp_path / "plugin" / "aifs" / "v1" / "aifs_pb2.py", "rb") as f1, \
            open(tmp_path / "tools" / "aifs" / "v1" / "aifs_pb2.py", "rb") as f2:
        assert f1.read() == f2.read()
