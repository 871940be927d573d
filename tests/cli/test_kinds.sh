# Typed kinds through the CLI: tensors from .npy/.safetensors, embeddings,
# artifacts; numpy reads what AIFS gives back; malformed inputs are refused.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -c 'import numpy' || fail "Debian python3-numpy is required"
$AIFS init >/dev/null
$PY - "$WORK" <<'PY'
import numpy as np, sys, json, struct
d = sys.argv[1]
np.save(f"{d}/t.npy", np.arange(60, dtype=np.int16).reshape(3, 4, 5))
np.save(f"{d}/v.npy", np.random.default_rng(1).random((4, 16), dtype=np.float32))
a = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3); b = np.arange(4, dtype=np.int64)
hdr = {"__metadata__": {"format": "pt"},
       "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
       "b": {"dtype": "I64", "shape": [4], "data_offsets": [24, 56]}}
h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
open(f"{d}/m.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + a.tobytes() + b.tobytes())
PY

t=$($AIFS put --kind tensor "$WORK/t.npy")
$AIFS stat "$t" | grep -q "kind:      tensor" || fail "tensor kind not recorded"
$AIFS get "$t" --as npy -o "$WORK/back.npy"
$PY -c 'import numpy as np,sys; a=np.load(sys.argv[1]); b=np.load(sys.argv[2]); assert a.dtype==b.dtype and a.shape==b.shape and (a==b).all()' "$WORK/t.npy" "$WORK/back.npy"
ok "npy -> tensor -> npy identical (numpy)"

n=$($AIFS put --kind tensor "$WORK/m.safetensors" | wc -l)
[ "$n" = 2 ] || fail "safetensors: expected 2 tensor assets, got $n"
[ "$($AIFS ls --kind tensor --where safetensors.name=a | wc -l)" = 1 ] || fail "safetensors.name metadata"
ok "safetensors: one asset per tensor"

e=$($AIFS put --kind embed --vector "$WORK/v.npy" --model mini-lm --source "$t")
$AIFS stat "$e" | grep -q "kind:      embed" || fail "embed kind not recorded"
$PY -c 'import numpy as np; np.save("'"$WORK"'/nan.npy", np.array([1.0, float("nan")], dtype=np.float32))'
expect_error EMBED_NAN $AIFS put --kind embed --vector "$WORK/nan.npy" --model m
ok "embed stored; NaN refused"

mkdir -p "$WORK/model/tok"
echo '{"layers": 2}' > "$WORK/model/config.json"; head -c 200000 /dev/urandom > "$WORK/model/w.bin"
echo "vocab" > "$WORK/model/tok/vocab.txt"
art=$($AIFS pack "$WORK/model" --dep "base=$t")
[ "$($AIFS pack "$WORK/model" --dep "base=$t")" = "$art" ] || fail "pack is not deterministic"
$AIFS ls-artifact "$art" | grep -q "tok/vocab.txt" || fail "ls-artifact"
$AIFS unpack "$art" "$WORK/out"
diff -r "$WORK/model" "$WORK/out" || fail "unpack differs"
$AIFS get "$art" -o "$WORK/a.zip"; unzip -tq "$WORK/a.zip" >/dev/null || fail "unzip -t"
ok "artifact pack/unpack/ls, deterministic, unzip -t"

expect_error TENSOR_ $AIFS put --kind tensor "$WORK/model/w.bin"
printf 'PK\003\004garbage' > "$WORK/bad.zip"
expect_error ARTIFACT_ $AIFS put --kind artifact "$WORK/bad.zip"
[ "$($AIFS ls | wc -l)" = 5 ] || fail "a refused put became visible ($($AIFS ls | wc -l) assets)"
[ "$($AIFS ls --kind artifact | wc -l)" = 1 ] || fail "ls --kind artifact"
ok "malformed kinds refused, nothing stored"
echo "PASS $PASS"
