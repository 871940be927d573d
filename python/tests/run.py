#!/usr/bin/python3
"""CTest entry of the SDK tests: exits 77 (skipped) when a module the SDK or
pytest needs is missing or AIFS_BIN is no executable, else runs pytest with
the given arguments."""
import importlib.util
import os
import sys

NEEDED = ["pytest", "grpc", "google.protobuf", "numpy", "flatbuffers", "cryptography",
          "pymacaroons"]



def main():
    missing = []
    for m in NEEDED:  # found, not imported: aifs must import grpc first (fork support)
        try:
            if importlib.util.find_spec(m) is None:
                missing.append(m)
        except ImportError:
            missing.append(m)
    if missing:
        print("SKIP: python modules missing: %s (scripts/install-deps.sh installs them)"
              % " ".join(missing))
        return 77
    aifs_bin = os.environ.get("AIFS_BIN", "")
    if not os.access(aifs_bin, os.X_OK):
        print("SKIP: AIFS_BIN (the built aifs CLI) is not an executable: %r" % aifs_bin)
        return 77
    import pytest
    return pytest.main(sys.argv[1:])


if __name__ == "__main__":  # spawn/forkserver workers re-import this file
    sys.exit(main())
