#!/usr/bin/env python3
"""Macaroon interop: AIFS tokens against Debian's python3-pymacaroons.

Usage: macaroons_python_test.py path/to/aifs

- Tokens minted by AIFS (`aifs init`, `aifs token mint`) verify with
  pymacaroons given the root key (`aifs token export-root`), caveat for caveat.
- Tokens that pymacaroons attenuates (or mints from the root key) are accepted
  by a real `aifs serve`, and their caveats are enforced.
- Hostile tokens made with pymacaroons are refused: a caveat rewritten after
  signing (BAD_SIGNATURE), a caveat smuggling a second one behind a newline
  (UNKNOWN_CAVEAT), an expired one (TOKEN_EXPIRED).
- No root key or token appears in plaintext in the data directory (outside
  admin.token, whose job it is) or in the server's output.
"""
import os
import re
import secrets
import subprocess
import sys
import tempfile

from pymacaroons import Macaroon, Verifier

AIFS = sys.argv[1]
PASS = 0


def ok(cond, what):
    global PASS
    if not cond:
        print("FAIL:", what, flush=True)
        sys.exit(1)
    PASS += 1
    print("ok:", what, flush=True)


def aifs(*args, token=None, check=True, data=None):
    env = dict(os.environ)
    env.pop("AIFS_TOKEN", None)
    if token is not None:
        env["AIFS_TOKEN"] = token
    cmd = [AIFS] + (["--data", data] if data else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        print(r.stdout, r.stderr)
        sys.exit("FAIL: %s" % " ".join(cmd))
    return r


def aifs_grammar(now_utc):
    """The AIFS caveat grammar (docs/security.md), for pymacaroons' verifier."""
    def check(predicate):
        m = re.fullmatch(r"(ns|ops|branch|asset) = ([^ ,]+(,[^ ,]+)*)", predicate)
        if m:
            return True
        m = re.fullmatch(r"expires < (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", predicate)
        return bool(m) and m.group(1) > now_utc
    return check


def main():
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with tempfile.TemporaryDirectory(prefix="aifs-macaroons.") as tmp:
        data = os.path.join(tmp, "data")
        init = aifs("init", data=data)
        admin = open(os.path.join(data, "admin.token")).read().strip()
        ok(admin in init.stdout, "init prints the admin token once")
        ok(oct(os.stat(os.path.join(data, "admin.token")).st_mode & 0o777) == "0o600",
           "admin.token is mode 0600")
        root = bytes.fromhex(aifs("token", "export-root", "r1", data=data).stdout.strip())
        ok(len(root) == 32, "root key r1 is 32 bytes")

        # AIFS -> pymacaroons
        m = Macaroon.deserialize(admin)
        ok(m.location == "aifs" and m.identifier.startswith("r1:"), "identifier names key r1")
        ok(Verifier().verify(m, root), "pymacaroons verifies the admin token")
        minted = aifs("token", "mint", "--ns", "default", "--ops", "get,list", "--expires", "1h",
                      data=data).stdout.strip()
        mm = Macaroon.deserialize(minted)
        cav = [c.caveat_id for c in mm.first_party_caveats()]
        ok(cav[:2] == ["ns = default", "ops = get,list"] and cav[2].startswith("expires < "),
           "minted caveats read back in pymacaroons: %s" % cav)
        v = Verifier()
        v.satisfy_general(aifs_grammar(now))
        ok(v.verify(mm, root), "pymacaroons verifies a minted token with the AIFS grammar")
        try:
            Verifier().verify(mm, secrets.token_bytes(32))
            ok(False, "a wrong root key fails")
        except Exception:
            ok(True, "pymacaroons refuses the minted token under a wrong key")

        # a real server
        srv = subprocess.Popen([AIFS, "--data", data, "serve", "--listen", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = srv.stdout.readline()
            port = re.search(r":(\d+)$", line.strip()).group(1)
            server = ["--server", "127.0.0.1:" + port]
            src = os.path.join(tmp, "f")
            with open(src, "wb") as f:
                f.write(b"interop bytes " * 100)

            def call(token, *args, check=False):
                return aifs(*(server + list(args)), token=token, check=check)

            asset = call(admin, "put", src, check=True).stdout.strip()
            ok(len(asset) == 64, "the admin token puts")

            # pymacaroons -> AIFS: attenuation
            ro = Macaroon.deserialize(admin)
            ro.add_first_party_caveat("ns = default")
            ro.add_first_party_caveat("ops = get,list")
            ro_s = ro.serialize()
            r = call(ro_s, "ls")
            ok(r.returncode == 0 and asset in r.stdout, "a pymacaroons-attenuated token lists")
            r = call(ro_s, "put", src)
            ok(r.returncode != 0 and "OPERATION_NOT_ALLOWED" in r.stderr,
               "... and may not put: " + r.stderr.strip())
            r = call(ro_s, "ns", "create", "other")
            ok(r.returncode != 0 and "PERMISSION_DENIED" in r.stderr,
               "... nor create namespaces: " + r.stderr.strip())
            # a chain: AIFS attenuates what pymacaroons attenuated
            chained = aifs("token", "attenuate", ro_s, "--ops", "get").stdout.strip()
            r = call(chained, "ls")
            ok(r.returncode != 0 and "OPERATION_NOT_ALLOWED" in r.stderr,
               "an attenuation chain only narrows (get only: no list)")
            r = call(chained, "cat", asset)
            ok(r.returncode == 0, "... but still gets")

            # pymacaroons mints from the exported root key
            own = Macaroon(location="aifs", identifier="r1:" + secrets.token_hex(16), key=root)
            own.add_first_party_caveat("ops = get")
            r = call(own.serialize(), "cat", asset)
            ok(r.returncode == 0, "a token pymacaroons minted from the root key is accepted")

            # hostile tokens
            tampered = Macaroon.deserialize(ro_s)
            tampered.caveats[1].caveat_id = "ops = get,put"  # rewritten after signing
            r = call(tampered.serialize(), "put", src)
            ok(r.returncode != 0 and "UNAUTHENTICATED" in r.stderr and "BAD_SIGNATURE" in r.stderr,
               "a caveat rewritten after signing: " + r.stderr.strip())
            inj = Macaroon.deserialize(admin)
            inj.add_first_party_caveat("ns = default\nops = admin")
            r = call(inj.serialize(), "ls")
            ok(r.returncode != 0 and "UNKNOWN_CAVEAT" in r.stderr,
               "a newline-smuggled caveat fails closed: " + r.stderr.strip())
            exp = Macaroon.deserialize(admin)
            exp.add_first_party_caveat("expires < 2001-01-01T00:00:00Z")
            r = call(exp.serialize(), "ls")
            ok(r.returncode != 0 and "TOKEN_EXPIRED" in r.stderr, "an expired token")
            r = call(admin[: len(admin) // 2], "ls")
            ok(r.returncode != 0 and "UNAUTHENTICATED" in r.stderr, "a truncated token")
            r = call("", "ls")
            ok(r.returncode != 0 and "TOKEN_MISSING" in r.stderr, "no token")
        finally:
            srv.terminate()
            out, err = srv.communicate(timeout=30)

        # no secret in plaintext on disk (but admin.token) or in the logs
        secrets_ = [root, root.hex().encode(), admin.encode(), minted.encode(),
                    ro_s.encode(), Macaroon.deserialize(admin).signature.encode()]
        scanned = 0
        for dirpath, _, files in os.walk(data):
            for name in files:
                path = os.path.join(dirpath, name)
                if path == os.path.join(data, "admin.token"):
                    continue
                blob = open(path, "rb").read()
                scanned += 1
                if any(s in blob for s in secrets_):
                    ok(False, "a root key or token in plaintext in %s" % os.path.relpath(path, data))
        ok(scanned > 5, "scanned %d files of the data directory: no root key or token" % scanned)
        logs = (out + err).encode()
        ok(all(s not in logs for s in secrets_), "the server's output holds no root key or token")
    print("%d passed, 0 failed" % PASS)


if __name__ == "__main__":
    main()
