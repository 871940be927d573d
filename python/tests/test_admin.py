"""Administration through the SDK: health, info, metrics, policies, garbage
collection, pruning, metadata check, format history, key rotation, URL keys,
quarantined embeddings, signed URLs."""
import numpy as np
import pytest

import aifs


def test_health_info_metrics(server, client):
    assert aifs.connect(server.address, token="").health() == "SERVING"  # no token needed
    info = client.info()
    assert info.version and len(info.store_id) == 32 and not info.read_only
    text = client.metrics()
    assert "# TYPE" in text


def test_policy_and_quota(client, ns):
    n = client.set_policy(ns, max_assets=2)
    assert n.pb.policy.max_assets == 2
    client.put(ns, b"one")
    client.put(ns, b"two")
    with pytest.raises(aifs.ResourceExhausted) as e:
        client.put(ns, b"three")
    assert e.value.reason == "QUOTA_EXCEEDED"


def test_gc_prune_check_format(client, ns):
    a = client.put(ns, b"to remove").id
    client.rm(ns, a)
    r = client.gc(dry_run=True)
    assert r.dry_run
    for _ in range(3):
        client.put(ns, np.random.default_rng().bytes(10))
        client.snapshot(ns)
    p = client.prune(ns, dry_run=True, keep_snapshots=1)
    assert p.dry_run and len(p.decisions) >= 3 and p.kept >= 1
    assert client.check_metadata().sequence > 0
    assert isinstance(client.format_history(), list)


def test_keys_and_urls(client, ns):
    old = {k.id for k in client.url_keys().keys}
    new = client.rotate_url_key()
    assert new not in old and new in {k.id for k in client.url_keys().keys}
    a = client.put(ns, b"signed").id
    url = client.sign_url(ns, a, expires_s=60)
    assert "/v1/assets/%s/%s" % (ns, a) in url and "sig=" in url
    assert client.rotate_key()


def test_quarantined_embeddings(client, ns):
    client.set_policy(ns, quarantine_embeddings=True)
    client.create_space(ns, "q", 3)
    a = client.put(ns, b"vec", embeddings={"q": [1.0, 0.0, 0.0]}).id
    assert client.pending_embeddings(ns) == [(a, "q")]
    assert client.search(ns, "q", np.array([1, 0, 0], np.float32), k=1) == []
    assert client.review_embeddings(ns, approve=True) == 1
    assert client.search(ns, "q", np.array([1, 0, 0], np.float32), k=1)[0].id == a


def test_aggregate_queries_and_privacy_budget(client, ns):
    for i in range(10):
        client.put(ns, b"person %d" % i, metadata={"age": str(i), "team": "a" if i < 4 else "b"})
    exact = client.query(ns, "count", where={"team": "a"})
    assert (exact["noisy"], exact["count"], exact["mechanism"]) == (False, 4, "exact")
    assert client.query(ns, "mean", "age")["value"] == 4.5
    client.set_policy(ns, privacy={"total_epsilon_micros": 1000000,
                                   "fields": [{"field": "age", "lower": 0, "upper": 100}]})
    noisy = client.query(ns, "count", epsilon="0.75", who="sdk")
    assert noisy["noisy"] and noisy["epsilon"] == 750000 and noisy["remaining_epsilon"] == 250000
    with pytest.raises(aifs.ResourceExhausted) as e:
        client.query(ns, "sum", "age", epsilon="0.5")
    assert e.value.reason == "PRIVACY_BUDGET_EXHAUSTED"
    with pytest.raises(aifs.InvalidArgument) as e:
        client.query(ns, "sum", "height", epsilon="0.1")
    assert e.value.reason == "FIELD_NOT_IN_POLICY"
    ledger = client.privacy_ledger(ns)
    assert ledger.spent_micros == 750000 and ledger.queries == 1
    assert ledger.charges[0].query == "count" and "sdk" in ledger.charges[0].who
    # The Gaussian mechanism spends delta too, where the policy grants one.
    with pytest.raises(aifs.InvalidArgument) as e:
        client.query(ns, "count", epsilon="0.1", mechanism="gaussian", delta="1e-6")
    assert e.value.reason == "GAUSSIAN_NOT_ALLOWED"
    client.set_policy(ns, privacy={"total_epsilon_micros": 2000000, "total_delta_picos": 1000000,
                                   "fields": [{"field": "age", "lower": 0, "upper": 100}]})
    gauss = client.query(ns, "count", epsilon="0.5", mechanism="gaussian", delta="1e-6")
    assert (gauss["delta"], gauss["remaining_delta"]) == (1000000, 0)
    assert gauss["mechanism"].startswith("discrete_gaussian(sigma2=")
    with pytest.raises(aifs.ResourceExhausted) as e:
        client.query(ns, "count", epsilon="0.1", mechanism="gaussian", delta=1)
    assert e.value.reason == "PRIVACY_BUDGET_EXHAUSTED"
    with pytest.raises(aifs.InvalidArgument) as e:
        client.query(ns, "count", epsilon="0.1", mechanism="gaussian", delta="1e-13")
    assert e.value.reason == "BAD_DELTA"
    ledger = client.privacy_ledger(ns)
    assert ledger.spent_delta_picos == 1000000 and ledger.charges[0].delta_picos == 1000000
