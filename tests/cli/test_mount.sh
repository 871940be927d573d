# The FUSE mount end to end (docs/fuse.md), read with tools nobody here
# wrote: cmp, find, du, stat, getfattr, cp -r, tar, Python, numpy, fio.
# A tree with nested directories, empty and large files and odd names is put
# with put -r and mounted through a server (remote: the live views follow
# the store), then embedded. Real mounts under $WORK; needs /dev/fuse and
# fusermount3 (exit 77, skipped, without them). Not run remotely: it starts
# its own server.
source "$(dirname "$0")/lib.sh"
command -v fusermount3 > /dev/null || { echo "skip: fusermount3 is not installed"; exit 77; }
python3 -c 'import os; os.close(os.open("/dev/fuse", os.O_RDWR))' 2> /dev/null ||
  { echo "skip: /dev/fuse cannot be opened here"; exit 77; }
for tool in getfattr b3sum python3; do
  command -v $tool > /dev/null || fail "$tool is required"
done
MNT=$WORK/mnt
mkdir -p "$MNT" "$WORK/src/d1/d2/d3" "$WORK/src/with space" "$WORK/src/ünï"
head -c 20000000 /dev/urandom > "$WORK/src/large.bin"
: > "$WORK/src/d1/empty"
echo "deep" > "$WORK/src/d1/d2/d3/deep.txt"
echo "spaced" > "$WORK/src/with space/a b.txt"
echo "utf8" > "$WORK/src/ünï/ñame é.txt"
for i in $(seq 50); do head -c $((i * 997)) /dev/urandom > "$WORK/src/d1/f$i.bin"; done
/usr/bin/python3 -c 'import numpy as np, sys; np.save(sys.argv[1], np.arange(12345, dtype=np.float32).reshape(5, 2469))' \
  "$WORK/src/arr.npy"
$AIFS -q init > /dev/null
$AIFS -q put -r "$WORK/src" --prefix ds/ > /dev/null
files=$(cd "$WORK/src" && find . -type f | wc -l)
start_server m
export AIFS_SERVER=$ADDR_m AIFS_TOKEN=@$AIFS_DATA/admin.token
mount_it() { $AIFS mount "$MNT" --daemon --refresh 1 --log "$WORK/mount.log" "$@" > /dev/null; }
CLEANUP_CMDS+=("fusermount3 -u -z '$MNT' 2>/dev/null")
mount_it
ok "aifs mount --daemon: mounted"

# every file, byte for byte, and the tools people use on files
(cd "$WORK/src" && find . -type f -print0) | while IFS= read -r -d '' f; do
  cmp -s "$WORK/src/$f" "$MNT/head/ds/$f" || fail "cmp $f"
done
[ "$(find "$MNT/head/ds" -type f | wc -l)" = "$files" ] || fail "find counts another number of files"
[ "$(find "$MNT/head/ds" -type d | wc -l)" = "$(find "$WORK/src" -type d | wc -l)" ] || fail "find: directories"
[ "$(stat -c %s "$MNT/head/ds/large.bin")" = 20000000 ] || fail "stat size"
[ "$(stat -c %A "$MNT/head/ds/large.bin")" = "-r--r--r--" ] || fail "stat mode"
[ "$(du -sk "$MNT/head/ds" | cut -f1)" -ge 19000 ] || fail "du: $(du -sk "$MNT/head/ds")"
ok "cmp, find, stat and du agree with the source tree ($files files)"
id=$(getfattr --only-values -n user.aifs.id "$MNT/head/ds/large.bin" 2> /dev/null)
[ "$id" = "$(b3 "$WORK/src/large.bin")" ] || fail "user.aifs.id is not the b3sum"
[ "$(getfattr --only-values -n user.aifs.kind "$MNT/head/ds/large.bin" 2> /dev/null)" = blob ] || fail "user.aifs.kind"
getfattr -d "$MNT/head/ds/arr.npy" 2> /dev/null | grep -q 'user.aifs.id=' || fail "getfattr -d"
ok "xattrs: user.aifs.id (= b3sum), user.aifs.kind"
assets=$($AIFS --json ns show default | /usr/bin/python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["assets"], j["logical_bytes"])')
[ "$(df --output=itotal "$MNT" | tail -1 | tr -d ' ')" = "${assets% *}" ] || fail "df -i: not the asset count"
[ "$(df -B1 --output=size "$MNT" | tail -1 | tr -d ' ')" -ge "${assets#* }" ] || fail "df: smaller than the assets"
ok "df: the namespace's assets and bytes"
# the kernel forgets what it no longer caches, and so does the mount
held() { getfattr --only-values -n user.aifs.mount.inodes "$MNT" 2> /dev/null; }
[ "$(held)" -gt 10 ] || fail "the mount holds $(held) inodes after the walks"
if [ -w /proc/sys/vm/drop_caches ]; then
  sync; echo 2 > /proc/sys/vm/drop_caches
  for _ in $(seq 50); do [ "$(held)" -lt 10 ] && break; sleep 0.1; done
  [ "$(held)" -lt 10 ] || fail "the kernel dropped its inodes, the mount still holds $(held)"
  (cd "$WORK/src" && find . -type f -print0) | while IFS= read -r -d '' f; do
    cmp -s "$WORK/src/$f" "$MNT/head/ds/$f" || fail "cmp $f after the kernel forgot it"
  done
  ok "forget: the mount drops the inodes the kernel drops, and finds them again"
else
  echo "  (cannot drop the kernel's caches here: forget is not tried)"
fi
cp -r "$MNT/head/ds" "$WORK/copy"
diff -r "$WORK/src" "$WORK/copy" > /dev/null || fail "cp -r made another tree"
[ "$(tar cf - -C "$MNT/head" ds | tar tf - | grep -vc '/$')" = "$files" ] || fail "tar"
ok "cp -r and tar read the whole tree"
/usr/bin/python3 - "$MNT/head/ds" "$WORK/src" <<'PY' || fail "python"
import numpy as np, os, sys
mnt, src = sys.argv[1], sys.argv[2]
a = np.load(os.path.join(mnt, "arr.npy"))
assert a.shape == (5, 2469) and (a == np.load(os.path.join(src, "arr.npy"))).all()
with open(os.path.join(mnt, "large.bin"), "rb") as f, open(os.path.join(src, "large.bin"), "rb") as g:
    for off in (0, 4095, 7_000_001, 19_999_990):
        f.seek(off); g.seek(off)
        assert f.read(4096) == g.read(4096), off
PY
ok "python open/seek/read and numpy.load"
if command -v fio > /dev/null; then
  fio --name=r --filename="$MNT/head/ds/large.bin" --readonly --rw=randread --bs=4k \
    --runtime=2 --time_based --ioengine=psync --output="$WORK/fio.out" > /dev/null || fail "fio"
  ok "fio random reads on the mount"
fi
touch "$MNT/head/ds/new" 2> "$WORK/err" && fail "a write succeeded"
grep -q "Read-only file system" "$WORK/err" || fail "write: $(cat "$WORK/err")"
[ ! -e "$MNT/head/nope" ] && [ ! -e "$MNT/tags/nope" ] || fail "unknown names exist"
ok "writes fail EROFS; unknown names ENOENT"

# time travel: snapshots stay, branches move, a removed asset stays under its tag
s1=$($AIFS -q snapshot create --branch main)
$AIFS -q tag create v1 "$s1" > /dev/null
echo "new bytes" > "$WORK/new.txt"
$AIFS -q put "$WORK/new.txt" --path ds/d1/f1.bin > /dev/null
$AIFS rm "$id" > /dev/null
sleep 1.5
cmp -s "$WORK/new.txt" "$MNT/head/ds/d1/f1.bin" || fail "head does not show the new f1.bin"
[ ! -e "$MNT/head/ds/large.bin" ] || fail "head still shows the removed asset"
cmp -s "$WORK/src/d1/f1.bin" "$MNT/tags/v1/ds/d1/f1.bin" || fail "the tag changed"
cmp -s "$WORK/src/large.bin" "$MNT/tags/v1/ds/large.bin" || fail "the tag lost the removed asset"
cmp -s "$WORK/src/large.bin" "$MNT/snapshots/$s1/ds/large.bin" || fail "snapshots/ID"
cmp -s "$WORK/src/d1/f1.bin" "$MNT/branches/main/ds/d1/f1.bin" || fail "branch before its move"
$AIFS -q snapshot create --branch main > /dev/null
sleep 1.5
cmp -s "$WORK/new.txt" "$MNT/branches/main/ds/d1/f1.bin" || fail "the branch did not follow"
ok "head and branches follow the store; tags and snapshots stay (a removed asset readable)"

# the server goes away and comes back: errors, not wrong bytes, then reads again
port=${ADDR_m##*:}
stop_server m
cat "$MNT/branches/main/ds/d1/f2.bin" > /dev/null 2> "$WORK/err" &&
  echo "  (read served from the page cache while the server was down)"
AIFS_SERVER= LISTEN=127.0.0.1:$port start_server m
t0=$(now)
for _ in $(seq 150); do
  cmp -s "$WORK/src/d1/f3.bin" "$MNT/branches/main/ds/d1/f3.bin" 2> /dev/null && break
  sleep 0.1
done
cmp -s "$WORK/src/d1/f3.bin" "$MNT/branches/main/ds/d1/f3.bin" ||
  fail "no reads 15 s after the server came back: $(tail -n 3 "$WORK/mount.log")"
ok "the mount reads again $(since "$t0") s after the server is back"

# a killed mount: aifs umount releases the mountpoint, a new mount works
pkill -KILL -f "aifs mount $MNT" || true
sleep 0.5
$AIFS umount "$MNT" > /dev/null || fail "aifs umount after the mount process died"
mount_it
cmp -s "$WORK/src/d1/f3.bin" "$MNT/head/ds/d1/f3.bin" || fail "remount"
$AIFS umount "$MNT" > /dev/null
ok "a killed mount is released by aifs umount, and mounts again"
stop_server m

# embedded: the data directory opened read-only, following writers beside it
unset AIFS_SERVER AIFS_TOKEN
emb_mount() {
  : > "$WORK/emb.out"
  $AIFS mount "$MNT" > "$WORK/emb.out" 2>&1 &
  EMB=$!
  for _ in $(seq 100); do grep -q mounted "$WORK/emb.out" && break; sleep 0.1; done
  grep -q mounted "$WORK/emb.out" || fail "embedded mount: $(cat "$WORK/emb.out")"
}
emb_mount
cmp -s "$WORK/src/d1/f3.bin" "$MNT/head/ds/d1/f3.bin" || fail "embedded mount"
cmp -s "$WORK/src/large.bin" "$MNT/tags/v1/ds/large.bin" || fail "embedded mount: tag"
ino1=$(stat -c %i "$MNT/tags/v1/ds/d1/f7.bin")
kill -TERM $EMB
for _ in $(seq 100); do running $EMB || break; sleep 0.1; done
running $EMB && fail "the mount did not exit on SIGTERM"
wait $EMB || fail "the mount exited non-zero on SIGTERM"
mountpoint -q "$MNT" && fail "SIGTERM left the mountpoint mounted"
ok "embedded mount; SIGTERM unmounts cleanly"

emb_mount
[ "$(stat -c %i "$MNT/tags/v1/ds/d1/f7.bin")" = "$ino1" ] || fail "inode numbers change between mounts"
ok "inode numbers are the same in every mount"

# a writer beside the embedded mount: head/ and branches/ follow it
echo "newer bytes" > "$WORK/newer.txt"
t0=$(now)
$AIFS -q put "$WORK/newer.txt" --path ds/d1/f2.bin > /dev/null
$AIFS -q snapshot create --branch main > /dev/null
for _ in $(seq 100); do
  cmp -s "$WORK/newer.txt" "$MNT/head/ds/d1/f2.bin" 2> /dev/null &&
    cmp -s "$WORK/newer.txt" "$MNT/branches/main/ds/d1/f2.bin" 2> /dev/null && break
  sleep 0.1
done
cmp -s "$WORK/newer.txt" "$MNT/head/ds/d1/f2.bin" || fail "the embedded head did not follow"
cmp -s "$WORK/newer.txt" "$MNT/branches/main/ds/d1/f2.bin" || fail "the embedded branch did not follow"
cmp -s "$WORK/src/d1/f2.bin" "$MNT/tags/v1/ds/d1/f2.bin" || fail "the tag changed"
ok "embedded: head and branches follow a writer beside the mount ($(since "$t0") s)"

# a damaged chunk is EIO with its reason in the log, never other bytes
$AIFS umount "$MNT" > /dev/null; wait
victim=$(b3 "$WORK/src/d1/f9.bin")
stored=$($AIFS --json stat "$victim" --chunks |
  /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["chunk_list"][0]["stored_size"])')
# the object of f9's one chunk (put -r packed it with others) and where it starts
read -r object at < <($AIFS --json stat "$victim" --chunks | /usr/bin/python3 -c '
import json, sys
c = json.load(sys.stdin)["chunk_list"][0]
print(c["object"], c["object_offset"])')
mapfile -t objs < <(find "$AIFS_DATA/chunks" -type f -name "$object")
[ ${#objs[@]} = 1 ] || fail "expected one object named $object, found ${#objs[@]}"
[ "$(stat -c %s "${objs[0]}")" -ge $((at + stored)) ] || fail "object $object is shorter than the chunk's end"
printf '\xff' | dd of="${objs[0]}" bs=1 seek=$((at + 100)) conv=notrunc status=none
emb_mount
cat "$MNT/head/ds/d1/f9.bin" > /dev/null 2> "$WORK/err" && fail "a damaged chunk was read"
grep -q "Input/output error" "$WORK/err" || fail "damaged chunk: $(cat "$WORK/err")"
grep -q "DATA_LOSS" "$WORK/emb.out" || fail "the mount did not log why: $(cat "$WORK/emb.out")"
$AIFS umount "$MNT" > /dev/null; wait
ok "a damaged chunk reads as EIO, logged with its reason"

# no /dev/fuse for this user: a clear error at once
if command -v setpriv > /dev/null &&
   ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -r /dev/fuse -a -w /dev/fuse; then
  NP=$(mktemp -d /var/tmp/aifs-nofuse.XXXXXX); chmod 777 "$NP"
  CLEANUP_CMDS+=("rm -rf '$NP'")
  as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups env AIFS_DATA="$NP/data" "$@"; }
  mkdir "$NP/mnt"; chmod 777 "$NP/mnt"
  as_nobody $AIFS -q init > /dev/null || fail "init as nobody"
  out=$(timeout 20 setpriv --reuid=nobody --regid=nogroup --clear-groups env AIFS_DATA="$NP/data" \
        $AIFS mount "$NP/mnt" 2>&1 || true)
  [[ $out == *"FAILED_PRECONDITION FUSE_UNAVAILABLE"* ]] || fail "no /dev/fuse: $out"
  ok "without access to /dev/fuse: a clear error, no hang"
else
  echo "  (nobody may open /dev/fuse here: the no-access case is not tried)"
fi
echo "PASS ($PASS checks)"
