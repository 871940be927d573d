#!/usr/bin/env python3
"""flood.py HOST PORT COUNT MODE HOLD: opens COUNT TCP connections to
HOST:PORT and keeps them open while the file HOLD exists, then closes them all.

MODE silent:  connect and send nothing (an idle-connection flood).
MODE preface: send the HTTP/2 client preface and an empty SETTINGS frame, so
              the server hands the connection to its HTTP/2 stack.

Prints one line: "opened N failed M" once every connection was tried.
Exits 77 (skip) when this process cannot get enough file descriptors.
"""
import errno, os, resource, selectors, socket, sys, time

host, port, count, mode, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
need = count + 64
if soft < need:
    if hard != resource.RLIM_INFINITY and hard < need:
        print(f"flood.py: needs {need} file descriptors, hard limit is {hard}", file=sys.stderr)
        sys.exit(77)
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
socks, failed = [], 0
for i in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    err = s.connect_ex((host, port))
    if err not in (0, errno.EINPROGRESS):
        failed += 1
        s.close()
        continue
    socks.append(s)
# Wait (up to 10 s) for the connects to finish; the kernel may hold SYNs while
# the backlog is full.
deadline = time.time() + 10
pending = list(socks)
opened = []
while pending and time.time() < deadline:
    sel = selectors.DefaultSelector()
    for s in pending:
        sel.register(s, selectors.EVENT_WRITE)
    ready = {k.fileobj for k, _ in sel.select(timeout=0.5)}
    sel.close()
    still = []
    for s in pending:
        if s in ready:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                opened.append(s)
                if mode == "preface":
                    try:
                        s.send(PREFACE)
                    except OSError:
                        pass
            else:
                failed += 1
                s.close()
        else:
            still.append(s)
    pending = still
print(f"opened {len(opened)} failed {failed} pending {len(pending)}", flush=True)
while os.path.exists(hold):
    time.sleep(0.1)
for s in opened + pending:
    s.close()
