"""Tokens: offline attenuation and inspection (pymacaroons), minting by the
server and from an exported root key, and the server enforcing all of them."""
import datetime

import pytest

import aifs
from aifs import tokens


def test_attenuate_offline_is_enforced(server, client, ns):
    a = client.put(ns, b"secret").id
    ro = tokens.attenuate(server.token, ns=ns, ops=["get"])
    info = tokens.inspect(ro)
    assert info.location == "aifs" and info.caveats == ["ns = %s" % ns, "ops = get"]
    assert info.key_id == tokens.inspect(server.token).key_id
    c = aifs.connect(server.address, token=ro)
    assert c.get(ns, a) == b"secret"
    with pytest.raises(aifs.PermissionDenied) as e:
        c.put(ns, b"nope")
    assert e.value.reason == "OPERATION_NOT_ALLOWED"
    with pytest.raises(aifs.PermissionDenied) as e:
        c.namespace("other")
    assert e.value.reason == "WRONG_NAMESPACE"
    # narrowing further works; widening cannot
    only_asset = tokens.attenuate(ro, asset=[a])
    assert aifs.connect(server.address, token=only_asset).get(ns, a) == b"secret"
    with pytest.raises(aifs.PermissionDenied) as e:
        aifs.connect(server.address, token=only_asset).get(ns, client.put(ns, b"o").id)
    assert e.value.reason == "WRONG_ASSET"


def test_expiry(server, client, ns):
    past = tokens.attenuate(server.token, expires=datetime.datetime(2020, 1, 1))
    with pytest.raises(aifs.PermissionDenied) as e:
        aifs.connect(server.address, token=past).namespace(ns)
    assert e.value.reason == "TOKEN_EXPIRED"
    future = tokens.attenuate(server.token, expires=datetime.datetime.now(
        datetime.timezone.utc) + datetime.timedelta(hours=1))
    assert aifs.connect(server.address, token=future).namespace(ns).name == ns


def test_grammar_refused_offline():
    for bad in ("ns=a", "nss = a", "ops = get,fly", "expires < tomorrow", "ns = a\nops = get",
                "asset = xyz"):
        with pytest.raises(aifs.InvalidArgument) as e:
            tokens.check_caveat(bad)
        assert e.value.reason == "UNKNOWN_CAVEAT"
    with pytest.raises(aifs.InvalidArgument) as e:
        tokens.attenuate("garbage", ns="a")
    assert e.value.reason == "TOKEN_MALFORMED"


def test_tampered_token_refused(server, ns):
    from pymacaroons import Macaroon
    m = Macaroon.deserialize(tokens.attenuate(server.token, ops="get"))
    m.caveats[0].caveat_id = "ops = get,put"
    with pytest.raises(aifs.Unauthenticated) as e:
        aifs.connect(server.address, token=m.serialize()).namespace(ns)
    assert e.value.reason == "BAD_SIGNATURE"


def test_mint_server_and_offline(server, client, ns):
    t = client.mint_token(["ns = %s" % ns, "ops = get,list"])
    assert tokens.inspect(t).caveats == ["ns = %s" % ns, "ops = get,list"]
    c = aifs.connect(server.address, token=t)
    assert c.namespace(ns).name == ns
    with pytest.raises(aifs.PermissionDenied):
        c.put(ns, b"x")
    client.revoke_token(t)
    with pytest.raises(aifs.Unauthenticated):
        c.namespace(ns)
    # offline, from the exported root key
    own = tokens.mint(server.root_key, "r1", ns=ns, ops="get")
    assert aifs.connect(server.address, token=own).namespace(ns).name == ns
    assert any(k.id == "r1" for k in client.token_keys().keys)

