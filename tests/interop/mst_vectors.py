#!/usr/bin/env python3
"""Known-answer vectors for the snapshot Merkle tree, from an independent
implementation of docs/snapshot-merkle.md (construction, node encoding, proof
verification), checked against the C++ implementation through mst_tool.

BLAKE3 is not in hashlib, so every hash is computed by the `b3sum` command
(one call per tree level, over temporary files).

usage: mst_vectors.py MST_TOOL      exit status 0 iff everything matches
"""
import os
import subprocess
import sys
import tempfile

BOUNDARY_MASK = 0x3F
MAX_LEVEL = 32  # no boundaries at level 32 and above

# Roots of the counter sets (IDs = BLAKE3 of "0" .. "N-1"), as (hex, height).
# The same values are pinned in tests/unit/test_mst.cpp (MstBuild.KnownAnswers).
KNOWN = {
    "counters-0": ("2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213", 0),
    "counters-1": ("56e773c6f9c7fc6b3d6c2d4bff7417f284ec16528e6e01bc5f4be09b3a182df9", 0),
    "counters-2": ("3b28e6d7cabcf6b985aa8ffa01d25fbeb69c0760e12fcde9c1bd0d695743ff9d", 0),
    "counters-100": ("521b7aeaf83f02ac1bc94dfc87c983845dd6311dd741c3b43ea2d27b8763f52a", 0),
    "counters-1000": ("00025926f112e21e06b4b1f5d247ce34ed8596025b4bef6fb80de224726593aa", 1),
    "crafted-302": ("101e9a5654ae4016397b5dd9f2620e099d4097e0e8971698b04eacd006afc799", 3),
    "edges-64": ("b88065bb03db120dabae9862bba898bad8b9e65016b28a5187f058a29c0dac99", 32),
}


class B3:
    """Hashes many byte strings with one b3sum call."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.calls = 0

    def many(self, blobs):
        if not blobs:
            return []
        d = tempfile.mkdtemp(dir=self.tmp)
        names = []
        for i, b in enumerate(blobs):
            name = os.path.join(d, str(i))
            with open(name, "wb") as f:
                f.write(b)
            names.append(name)
        out = subprocess.run(["b3sum", "--no-names", "--num-threads", "1"] + names,
                             check=True, capture_output=True, text=True).stdout.split()
        self.calls += 1
        for name in names:
            os.unlink(name)
        os.rmdir(d)
        if len(out) != len(blobs):
            raise RuntimeError("b3sum printed %d hashes for %d inputs" % (len(out), len(blobs)))
        return [bytes.fromhex(h) for h in out]


def is_boundary(key, level):
    return level < MAX_LEVEL and (key[31 - level] & BOUNDARY_MASK) == 0


def preimage(level, entries):
    """Hash preimage of a node: entries are keys (level 0) or (key, hash)."""
    if level == 0:
        return b"\x00" + b"".join(entries)
    return b"\x01" + bytes([level]) + b"".join(k + h for k, h in entries)


def encode(level, entries):
    out = bytes([level]) + len(entries).to_bytes(4, "little")
    if level == 0:
        return out + b"".join(entries)
    return out + b"".join(k + h for k, h in entries)


def decode(blob):
    """Strict decoding; returns (level, entries) or raises ValueError."""
    if len(blob) < 5:
        raise ValueError("short node")
    level, count = blob[0], int.from_bytes(blob[1:5], "little")
    if level > MAX_LEVEL:
        raise ValueError("level above 32")
    if count == 0 and level != 0:
        raise ValueError("empty inner node")
    per = 32 if level == 0 else 64
    if len(blob) != 5 + count * per:
        raise ValueError("size does not match the count")
    entries = []
    for i in range(count):
        e = blob[5 + i * per: 5 + (i + 1) * per]
        entries.append(e if level == 0 else (e[:32], e[32:]))
    keys = [e if level == 0 else e[0] for e in entries]
    if any(a >= b for a, b in zip(keys, keys[1:])):
        raise ValueError("keys not strictly increasing")
    return level, entries


def build(ids, b3):
    """Returns (root, height, levels); levels[l] = list of (level, entries, hash)."""
    ids = sorted(ids)
    assert len(set(ids)) == len(ids)
    if not ids:
        (h,) = b3.many([b"\x00"])
        return h, 0, [[(0, [], h)]]
    entries = list(ids)
    levels = []
    level = 0
    while True:
        nodes, cur = [], []
        for i, e in enumerate(entries):
            cur.append(e)
            key = e if level == 0 else e[0]
            if is_boundary(key, level) or i == len(entries) - 1:
                nodes.append(cur)
                cur = []
        hashes = b3.many([preimage(level, n) for n in nodes])
        levels.append([(level, n, h) for n, h in zip(nodes, hashes)])
        if len(nodes) == 1:
            return hashes[0], level, levels
        entries = [((n[-1] if level == 0 else n[-1][0]), h) for n, h in zip(nodes, hashes)]
        level += 1


def path_of(levels, height, id_):
    """The proof path root -> leaf in the Python tree, as node encodings."""
    path = []
    for level in range(height, -1, -1):
        for lvl, entries, h in levels[level]:
            last = entries[-1] if level == 0 else entries[-1][0]
            if last >= id_ or (lvl, entries, h) == levels[level][-1]:
                path.append(encode(lvl, entries))
                break
    return path


def verify_proof(root, id_, encodings, b3):
    """The verification steps of docs/snapshot-merkle.md; returns None or why not."""
    if not encodings:
        return "empty path"
    try:
        nodes = [decode(e) for e in encodings]
    except ValueError as e:
        return str(e)
    hashes = b3.many([preimage(lvl, ents) for lvl, ents in nodes])
    top_level = nodes[0][0]
    if len(nodes) != top_level + 1:
        return "path length does not match the root level"
    if top_level > 0 and len(nodes[0][1]) < 2:
        return "root above level 0 with one entry"
    if hashes[0] != root:
        return "top node does not hash to the root"
    rightmost = True
    for d, (level, ents) in enumerate(nodes):
        if level != top_level - d:
            return "levels do not decrease by one"
        if not ents:
            return "empty node"
        keys = [e if level == 0 else e[0] for e in ents]
        if any(is_boundary(k, level) for k in keys[:-1]):
            return "boundary inside a node"
        if not rightmost and not is_boundary(keys[-1], level):
            return "node ends without a boundary"
        if level == 0:
            return None if id_ in keys else "leaf does not contain the ID"
        idx = next((i for i, k in enumerate(keys) if k >= id_), None)
        if idx is None:
            return "ID above every key"
        child_level, child = nodes[d + 1]
        child_last = child[-1] if child_level == 0 else child[-1][0]
        if child_last != keys[idx]:
            return "child's last key differs from the parent entry"
        if hashes[d + 1] != ents[idx][1]:
            return "child does not hash to the parent entry"
        rightmost = rightmost and idx == len(keys) - 1
    return "path does not reach level 0"


def run_tool(tool, args, stdin=""):
    return subprocess.run([tool] + args, input=stdin, check=True, capture_output=True,
                          text=True).stdout


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    tool = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory(prefix="mst-vectors-") as tmp:
        b3 = B3(tmp)
        counts = [0, 1, 2, 100, 1000]
        all_ids = b3.many([str(i).encode() for i in range(max(counts))])
        tool_lines = run_tool(tool, ["counters"] + [str(n) for n in counts]).splitlines()
        sets = {}
        for n, line in zip(counts, tool_lines):
            ids = all_ids[:n]
            root, height, levels = build(ids, b3)
            sets["counters-%d" % n] = (ids, root, height, levels)
            want = "%d %s %d %d" % (n, root.hex(), height, n)
            status = "ok" if line == want else "MISMATCH"
            print("counters N=%-5d root %s height %d  %s" % (n, root.hex(), height, status))
            if line != want:
                failures.append("counters %d: tool says %r, python %r" % (n, line, want))
            if KNOWN["counters-%d" % n] != (root.hex(), height):
                failures.append("counters %d: python disagrees with the known answer" % n)

        # Crafted IDs with boundaries on several levels (deep trees from few IDs),
        # and IDs at the extremes.
        base = b3.many([("c%d" % i).encode() for i in range(300)])
        crafted = []
        for i, h in enumerate(base):
            b = bytearray(h)
            if i % 3 == 0:
                b[31] &= 0xC0  # boundary at level 0
            if i % 9 == 0:
                b[30] &= 0xC0  # ... and at level 1
            if i % 27 == 0:
                b[29] &= 0xC0  # ... and at level 2
            crafted.append(bytes(b))
        crafted += [b"\x00\x01" + b"\xaa" * 30, b"\xff" * 32]
        # Keys that are boundaries on every level up to 30, four of them on 31
        # too: a tree of the maximum height, 32.
        edge = [bytes([0x40 * (i % 4) + (i // 4)]) + bytes(31) for i in range(64)]
        for name, ids in (("crafted-302", crafted), ("edges-64", edge)):
            root, height, levels = build(ids, b3)
            sets[name] = (ids, root, height, levels)
            stdin = "".join(i.hex() + "\n" for i in ids)
            line = run_tool(tool, ["root"], stdin).strip()
            want = "%s %d %d" % (root.hex(), height, len(set(ids)))
            status = "ok" if line == want else "MISMATCH"
            print("%-14s root %s height %d  %s" % (name, root.hex(), height, status))
            if line != want:
                failures.append("%s: tool says %r, python %r" % (name, line, want))
            if KNOWN[name] != (root.hex(), height):
                failures.append("%s: python disagrees with the known answer" % name)

        # Inclusion proofs made by the tool, checked by the Python verifier and
        # compared byte for byte with the path in the Python tree.
        proofs = 0
        for name in ("counters-1", "counters-1000", "crafted-302", "edges-64"):
            ids, root, height, levels = sets[name]
            srt = sorted(ids)
            stdin = "".join(i.hex() + "\n" for i in ids)
            for id_ in {srt[0], srt[len(srt) // 2], srt[-1], srt[len(srt) // 3]}:
                encs = [bytes.fromhex(l) for l in
                        run_tool(tool, ["prove", id_.hex()], stdin).split()]
                why = verify_proof(root, id_, encs, b3)
                if why is not None:
                    failures.append("%s: proof of %s rejected: %s" % (name, id_.hex(), why))
                if encs != path_of(levels, height, id_):
                    failures.append("%s: proof of %s differs from the python path" %
                                    (name, id_.hex()))
                # A forged proof must fail: flip one bit of the leaf's first key.
                forged = list(encs)
                leaf = bytearray(forged[-1])
                leaf[5 + 31] ^= 1
                forged[-1] = bytes(leaf)
                if verify_proof(root, id_, forged, b3) is None:
                    failures.append("%s: forged proof accepted" % name)
                proofs += 1
        print("proofs checked: %d (b3sum calls: %d)" % (proofs, b3.calls))

    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
