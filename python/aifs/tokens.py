"""Capability tokens (macaroons, docs/security.md), handled offline.

AIFS tokens are libmacaroons v1 macaroons: location ``aifs``, identifier
``<root key id>:<token id>``, first-party caveats in the AIFS grammar::

    ns = a,b                    ops = get,list,search
    branch = main,dev           asset = <64 hex>,...
    expires < 2026-11-26T05:00:00Z

Attenuation needs no server: anyone holding a token may add caveats, which
only narrow it. :func:`attenuate` refuses caveats outside the grammar (the
server would refuse the whole token: UNKNOWN_CAVEAT). :func:`mint` makes a
token from an exported root key (``aifs token export-root``);
:meth:`aifs.Client.mint_token` asks the server instead. Uses pymacaroons
(python3-pymacaroons). Thread safety: pure functions.
"""
from __future__ import annotations

import datetime
import re
import secrets
from dataclasses import dataclass
from typing import Iterable, List, Optional, Union

from .errors import InvalidArgument

__all__ = ["OPERATIONS", "TokenInfo", "check_caveat", "attenuate", "inspect", "mint",
           "expires_caveat"]

OPERATIONS = ("put", "get", "list", "search", "snapshot", "branch", "tag", "delete",
              "subscribe", "admin")
_LIST = re.compile(r"(ns|ops|branch|asset) = ([^ ,\x00-\x1f\x7f]+(,[^ ,\x00-\x1f\x7f]+)*)")
_EXPIRES = re.compile(r"expires < (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


def check_caveat(caveat: str) -> str:
    """Returns `caveat` if it is in the AIFS grammar; raises InvalidArgument
    UNKNOWN_CAVEAT otherwise (unknown key, wrong spacing, an unknown operation,
    a malformed asset ID or time)."""
    m = _LIST.fullmatch(caveat)
    if m:
        values = m.group(2).split(",")
        if m.group(1) == "ops" and any(v not in OPERATIONS for v in values):
            raise InvalidArgument("unknown operation in %r (known: %s)"
                                  % (caveat, " ".join(OPERATIONS)), "UNKNOWN_CAVEAT")
        if m.group(1) == "asset" and not all(re.fullmatch(r"[0-9a-f]{64}", v) for v in values):
            raise InvalidArgument("asset caveats take 64 lowercase hex digits: %r" % caveat,
                                  "UNKNOWN_CAVEAT")
        return caveat
    m = _EXPIRES.fullmatch(caveat)
    if m:
        try:
            datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ")
            return caveat
        except ValueError:
            pass
    raise InvalidArgument("not an AIFS caveat: %r" % caveat, "UNKNOWN_CAVEAT")


def expires_caveat(when: Union[datetime.datetime, float, int]) -> str:
    """``expires < ...`` for a datetime (naive = UTC) or a Unix time in seconds."""
    if not isinstance(when, datetime.datetime):
        when = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    elif when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc)
    return "expires < " + when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _caveats(caveats: Iterable[str] = (), ns=None, ops=None, branch=None, asset=None,
             expires=None) -> List[str]:
    out = list(caveats)
    for key, v in (("ns", ns), ("ops", ops), ("branch", branch), ("asset", asset)):
        if v is not None:
            out.append("%s = %s" % (key, v if isinstance(v, str) else ",".join(v)))
    if expires is not None:
        out.append(expires_caveat(expires))
    return [check_caveat(c) for c in out]


def attenuate(token: str, caveats: Iterable[str] = (), *, ns=None, ops=None, branch=None,
              asset=None, expires=None) -> str:
    """A narrower copy of `token` with the caveats added (offline).

    Args:
        caveats: caveat strings in the AIFS grammar; and/or the keyword forms:
            ns/ops/branch/asset as a string or a list, expires as a datetime or
            Unix seconds.
    Raises:
        InvalidArgument UNKNOWN_CAVEAT for a caveat outside the grammar,
        TOKEN_MALFORMED for a token that does not parse.
    """
    from pymacaroons import Macaroon

    added = _caveats(caveats, ns, ops, branch, asset, expires)
    try:
        m = Macaroon.deserialize(token.strip())
    except Exception as e:  # pymacaroons raises several types
        raise InvalidArgument("token does not parse: %s" % e, "TOKEN_MALFORMED")
    for c in added:
        m.add_first_party_caveat(c)
    return m.serialize()


@dataclass
class TokenInfo:
    """What a token says about itself (nothing here is verified)."""
    location: str
    key_id: str
    token_id: str
    caveats: List[str]


def inspect(token: str) -> TokenInfo:
    """Parses a token without verifying it. Raises InvalidArgument TOKEN_MALFORMED."""
    from pymacaroons import Macaroon

    try:
        m = Macaroon.deserialize(token.strip())
        ident = m.identifier if isinstance(m.identifier, str) else m.identifier.decode()
        cavs = [c.caveat_id if isinstance(c.caveat_id, str) else c.caveat_id.decode()
                for c in m.caveats]
    except Exception as e:
        raise InvalidArgument("token does not parse: %s" % e, "TOKEN_MALFORMED")
    key_id, _, token_id = ident.partition(":")
    return TokenInfo(m.location, key_id, token_id, cavs)


def mint(root_key: bytes, key_id: str = "r1", caveats: Iterable[str] = (), *,
         token_id: Optional[str] = None, ns=None, ops=None, branch=None, asset=None,
         expires=None) -> str:
    """A token made from an exported root key (offline; the server accepts it
    while that root key is not revoked). `token_id` defaults to 32 random hex."""
    from pymacaroons import Macaroon

    if len(root_key) != 32:
        raise InvalidArgument("a root key is 32 bytes", "BAD_ROOT_KEY")
    m = Macaroon(location="aifs", identifier="%s:%s" % (key_id, token_id or secrets.token_hex(16)),
                 key=bytes(root_key))
    for c in _caveats(caveats, ns, ops, branch, asset, expires):
        m.add_first_party_caveat(c)
    return m.serialize()
