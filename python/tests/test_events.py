"""Events as a resumable iterator: replay, follow, resume from the cursor,
and reconnection across a server restart (a private server of this test)."""
import threading
import time

import pytest

import aifs
from conftest import Server


def test_replay_and_resume(client, ns):
    ids = [client.put(ns, b"ev %d" % i).id for i in range(6)]
    ev = client.events(ns=ns, types=["ASSET_COMMITTED"])
    got = [e for e in ev]  # no follow: ends at the log's end
    assert [e.asset for e in got] == ids and all(e.type == "ASSET_COMMITTED" for e in got)
    # resume in the middle: exactly the rest, no repeats
    again = list(client.events(ns=ns, types=["ASSET_COMMITTED"], after=got[2].seq))
    assert [e.asset for e in again] == ids[3:]
    assert ev.cursor == got[-1].seq


def test_follow(client, ns):
    ev = client.events(ns=ns, follow=True)
    seen = []

    def reader():
        for e in ev:
            seen.append(e)
            if len([x for x in seen if x.type == "ASSET_COMMITTED"]) == 3:
                break

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.3)
    ids = [client.put(ns, b"follow %d" % i).id for i in range(3)]
    t.join(30)
    assert not t.is_alive()
    assert [e.asset for e in seen if e.type == "ASSET_COMMITTED"] == ids
    ev.close()


def test_close_ends_iteration(client, ns):
    ev = client.events(ns=ns, follow=True)
    threading.Timer(0.5, ev.close).start()
    assert list(ev) == [] or True  # returns once closed
    with pytest.raises(StopIteration):
        next(ev)


def test_reconnect_across_restart(tmp_path):
    srv = Server(str(tmp_path / "data"))
    try:
        c = aifs.connect(srv.address, token=srv.token)
        c.create_namespace("ev")
        first = [c.put("ev", b"before %d" % i).id for i in range(3)]
        ev = c.events(ns="ev", types=["ASSET_COMMITTED"], follow=True)
        got = [next(ev) for _ in range(3)]
        assert [e.asset for e in got] == first
        srv.stop()  # SIGTERM: the stream ends UNAVAILABLE
        srv.start()  # same port, same data
        later = [c.put("ev", b"after %d" % i).id for i in range(2)]
        got += [next(ev) for _ in range(2)]
        assert [e.asset for e in got] == first + later  # no gap, no repeat
        assert ev.reconnects >= 1
        ev.close()
        c.close()
    finally:
        srv.stop()
