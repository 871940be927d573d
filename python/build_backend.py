"""The in-tree PEP 517 build backend of the aifs package.

Why not setuptools: `pip install ./python` has to work offline on a fresh
Debian 12. pip builds in an isolated environment, and setuptools 66 asks for
`wheel` there, which Debian ships no wheel file of; so this backend needs
nothing (`requires = []`): it runs gen_protos.py (protoc from proto/) and
zips the package and the generated aifs/v1 into a pure-Python wheel with the
metadata of pyproject.toml. Editable installs and sdists are not offered
(tests import the source tree plus a generated stub directory instead).
"""
import base64
import hashlib
import os
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_protos  # noqa: E402


def _project():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    with open(os.path.join(HERE, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _metadata(p) -> str:
    lines = ["Metadata-Version: 2.1", "Name: " + p["name"], "Version: " + p["version"],
             "Summary: " + p.get("description", "")]
    if "requires-python" in p:
        lines.append("Requires-Python: " + p["requires-python"])
    lines += ["Requires-Dist: " + d for d in p.get("dependencies", [])]
    for extra, deps in p.get("optional-dependencies", {}).items():
        lines.append("Provides-Extra: " + extra)
        lines += ['Requires-Dist: %s; extra == "%s"' % (d, extra) for d in deps]
    lines.append("Description-Content-Type: text/markdown")
    text = "\n".join(lines) + "\n\n"
    readme = os.path.join(HERE, p.get("readme", "README.md"))
    if os.path.exists(readme):
        with open(readme) as f:
            text += f.read()
    return text


def _files(gen_dir):
    """(archive name, path) of the package's modules and the generated stubs."""
    out = []
    for root in (HERE, gen_dir):
        pkg = os.path.join(root, "aifs")
        for dirpath, dirs, names in os.walk(pkg):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for n in sorted(names):
                if n.endswith(".py"):
                    full = os.path.join(dirpath, n)
                    out.append((os.path.relpath(full, root).replace(os.sep, "/"), full))
    return out


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    p = _project()
    name, version = p["name"], p["version"]
    dist = "%s-%s.dist-info" % (name, version)
    wheel = "%s-%s-py3-none-any.whl" % (name, version)
    record = []

    def add(z, arcname, data: bytes):
        z.writestr(zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0)), data,
                   compress_type=zipfile.ZIP_DEFLATED)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (arcname, digest, len(data)))

    with tempfile.TemporaryDirectory(prefix="aifs-wheel-") as gen:
        gen_protos.generate(gen)
        with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as z:
            for arcname, full in _files(gen):
                with open(full, "rb") as f:
                    add(z, arcname, f.read())
            add(z, dist + "/METADATA", _metadata(p).encode())
            add(z, dist + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: aifs build_backend\n"
                                    b"Root-Is-Purelib: true\nTag: py3-none-any\n")
            record.append(dist + "/RECORD,,")
            z.writestr(zipfile.ZipInfo(dist + "/RECORD", date_time=(2020, 1, 1, 0, 0, 0)),
                       "\n".join(record) + "\n")
    return wheel
