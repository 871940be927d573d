#!/usr/bin/env python3
"""Independent check of a namespace snapshot made by the aifs CLI.

Recomputes the Merkle search tree root of the given AssetIDs with the Python
construction of mst_vectors.py (docs/snapshot-merkle.md; BLAKE3 by the `b3sum`
command, every node preimage of a level hashed in one call) and compares it
with the root, height and count the CLI signed. Also checks the snapshot ID
derivation (BLAKE3(root || created_unix_ns i64 LE)[0:16]) and, for each proof
file given, that the Python verifier accepts the proof and that its nodes are
exactly the path of the Python tree.

usage: merkle_check.py IDS_FILE SNAPSHOT_JSON [PROOF_JSON ...]
       exit status 0 iff everything matches
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mst_vectors import B3, build, path_of, verify_proof  # noqa: E402


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        ids = [bytes.fromhex(line.strip()) for line in f if line.strip()]
    with open(sys.argv[2]) as f:
        snap = json.load(f)
    failures = []
    if len(set(ids)) != len(ids):
        failures.append("the ID list has duplicates")
    with tempfile.TemporaryDirectory(prefix="merkle-check-") as tmp:
        b3 = B3(tmp)
        root, height, levels = build(ids, b3)
        print("python: %d IDs -> root %s height %d (%d nodes on level 0)" %
              (len(ids), root.hex(), height, len(levels[0])))
        print("aifs:   %d IDs -> root %s height %d" % (snap["count"], snap["root"], snap["height"]))
        if snap["root"] != root.hex():
            failures.append("root: aifs %s, python %s" % (snap["root"], root.hex()))
        if snap["height"] != height:
            failures.append("height: aifs %d, python %d" % (snap["height"], height))
        if snap["count"] != len(ids):
            failures.append("count: aifs %d, python %d" % (snap["count"], len(ids)))
        created = snap["created_unix_ns"].to_bytes(8, "little", signed=True)
        # Version 2 IDs also bind the path tree (docs/snapshots.md).
        path_root = bytes.fromhex(snap["path_root"]) if snap.get("version", 1) >= 2 else b""
        (sid,) = b3.many([bytes.fromhex(snap["root"]) + created + path_root])
        if sid[:16].hex() != snap["id"]:
            failures.append("snapshot id %s is not BLAKE3(root || time || path_root)[0:16] = %s" %
                            (snap["id"], sid[:16].hex()))
        for proof_file in sys.argv[3:]:
            with open(proof_file) as f:
                proof = json.load(f)
            asset = bytes.fromhex(proof["asset"])
            nodes = [bytes.fromhex(n) for n in proof["nodes"]]
            if proof["snapshot"]["root"] != root.hex():
                failures.append("%s: proof is for another root" % proof_file)
                continue
            why = verify_proof(root, asset, nodes, b3)
            if why is not None:
                failures.append("%s: python rejects the proof: %s" % (proof_file, why))
            if nodes != path_of(levels, height, asset):
                failures.append("%s: proof nodes differ from the python tree's path" % proof_file)
            print("proof of %s: %d nodes, %s" % (asset.hex()[:16], len(nodes),
                                                 "ok" if why is None else why))
    for f in failures:
        print("FAIL: " + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
