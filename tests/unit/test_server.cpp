// The gRPC server and the remote client over real loopback gRPC: the remote
// Api must behave exactly like the embedded engine (same results, same codes
// and reasons), and hostile streams must never leave anything visible.
#include <grpcpp/grpcpp.h>
#include <zstd.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>

#include "aifs/auth/macaroon.h"
#include "aifs/auth/token_verifier.h"
#include "aifs/client/bearer_token.h"
#include "aifs/client/remote_api.h"
#include "aifs/core/file_util.h"
#include "aifs/core/random.h"
#include "aifs/rpc/status_codec.h"
#include "aifs/server/rpc_auth.h"
#include "aifs/server/server.h"
#include "aifs/v1/aifs.grpc.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server_fixture.h"
#include "test_util.h"

namespace aifs::test {
namespace {

TEST_F(ServerTest, RemoteRoundTripsBytesAndMetadataLikeTheEngine) {
  StartServer();
  for (size_t size : {size_t{0}, size_t{1}, size_t{70000}, size_t{3} << 20}) {
    const Bytes data = RandomBytes(size, size + 1);
    PutOptions o;
    o.metadata = {{"size", std::to_string(size)}};
    // Odd write sizes: the client regroups them into <= 1 MiB frames.
    auto put = PutBytes(*remote_, data, o, {7, 65536, 1 << 20, 3 << 19});
    ASSERT_TRUE(put.ok()) << put.status().ToString();
    EXPECT_EQ(put->asset.id, IdOf(data));
    EXPECT_TRUE(put->created);
    EXPECT_EQ(put->asset.size, size);
    auto back = ReadBytes(*remote_, "default", put->asset.id);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, data);
    if (size > 100) {
      auto range = ReadBytes(*remote_, "default", put->asset.id, {size / 3, size / 2});
      ASSERT_TRUE(range.ok());
      EXPECT_EQ(*range, Slice(data, size / 3, size / 2));
    }
    auto local = engine().StatAsset("default", put->asset.id, true);
    auto far = remote_->StatAsset("default", put->asset.id, true);
    ASSERT_TRUE(local.ok() && far.ok());
    EXPECT_EQ(far->metadata, local->metadata);
    EXPECT_EQ(far->chunk_count, local->chunk_count);
    ASSERT_EQ(far->chunks.size(), local->chunks.size());
    for (size_t i = 0; i < far->chunks.size(); ++i) {
      EXPECT_EQ(far->chunks[i].hash, local->chunks[i].hash);
      EXPECT_EQ(far->chunks[i].stored_size, local->chunks[i].stored_size);
    }
    auto report = remote_->VerifyAsset("default", put->asset.id);
    ASSERT_TRUE(report.ok());
    AIFS_EXPECT_OK(report->result);
    EXPECT_EQ(report->bytes_checked, size);
  }
  // A re-put dedups, remotely too.
  auto again = PutBytes(*remote_, RandomBytes(70000, 70001));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->chunks_new, 0u);
}

TEST_F(ServerTest, ListLineageSnapshotsBranchesTagsMatchTheEngine) {
  StartServer();
  auto a = PutBytes(*remote_, TextBytes(40000, 1), {.metadata = {{"split", "train"}}});
  ASSERT_TRUE(a.ok());
  PutOptions child;
  child.metadata = {{"split", "test"}, {"stage", "tok"}};
  child.parents = {{a->asset.id, "tokenize", "sha256:00"}};
  auto b = PutBytes(*remote_, TextBytes(30000, 2), child);
  ASSERT_TRUE(b.ok()) << b.status().ToString();

  ListOptions lo;
  lo.filters = {{"split", MetaFilter::Op::kEquals, "test"}};
  auto page = remote_->ListAssets(lo);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->assets.size(), 1u);
  EXPECT_EQ(page->assets[0].id, b->asset.id);
  lo.filters = {{"stage", MetaFilter::Op::kExists, ""}};
  EXPECT_EQ(remote_->ListAssets(lo)->assets.size(), 1u);
  lo = {};
  lo.limit = 1;
  auto first = remote_->ListAssets(lo);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->assets.size(), 1u);
  ASSERT_FALSE(first->next_page_token.empty());
  lo.page_token = first->next_page_token;
  auto second = remote_->ListAssets(lo);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->assets.size(), 1u);
  EXPECT_NE(second->assets[0].id, first->assets[0].id);

  auto up = remote_->GetLineage("default", b->asset.id, LineageDirection::kUp, 3);
  ASSERT_TRUE(up.ok());
  ASSERT_EQ(up->edges.size(), 1u);
  EXPECT_EQ(up->edges[0].parent, a->asset.id);
  EXPECT_EQ(up->edges[0].transform, "tokenize");
  AIFS_EXPECT_STATUS(remote_->DeleteAsset("default", a->asset.id), kFailedPrecondition,
                     "HAS_CHILDREN");

  auto s1 = remote_->CreateSnapshot("default", nullptr);
  ASSERT_TRUE(s1.ok());
  auto local_s1 = engine().GetSnapshot("default", s1->id.ToHex());
  ASSERT_TRUE(local_s1.ok());
  EXPECT_EQ(s1->root, local_s1->root);
  EXPECT_EQ(s1->signature, local_s1->signature);
  AIFS_EXPECT_OK(remote_->VerifySnapshot("default", s1->id.ToHex()));
  auto proof = remote_->ProveAsset("default", s1->id.ToHex(), b->asset.id);
  ASSERT_TRUE(proof.ok());
  auto local_proof = engine().ProveAsset("default", s1->id.ToHex(), b->asset.id);
  EXPECT_EQ(proof->nodes, local_proof->nodes);
  std::vector<AssetId> only_a = {a->asset.id};
  auto s0 = remote_->CreateSnapshot("default", &only_a);
  ASSERT_TRUE(s0.ok());
  EXPECT_TRUE(s0->explicit_set);
  auto diff = remote_->DiffSnapshots("default", s0->id.ToHex(), s1->id.ToHex());
  ASSERT_TRUE(diff.ok());
  EXPECT_EQ(diff->added, std::vector<AssetId>{b->asset.id});
  EXPECT_TRUE(diff->removed.empty());

  ASSERT_TRUE(remote_->CreateBranch("default", "main", s0->id.ToHex(), "alice").ok());
  AIFS_EXPECT_STATUS(remote_->MoveBranch("default", "main", s1->id, s1->id.ToHex(), "bob")
                         .status(),
                     kAborted, "BRANCH_MOVED");
  auto moved = remote_->MoveBranch("default", "main", s0->id, s1->id.ToHex(), "bob");
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->snapshot, s1->id);
  auto log = remote_->BranchLog("default", "main");
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 2u);
  // The log names the verified token; the caller's own claim is only a remark.
  EXPECT_EQ((*log)[1].who, "token " + TokenName() + " (claims bob)");
  EXPECT_EQ((*log)[1].old_snapshot, s0->id);
  ASSERT_TRUE(remote_->CreateTag("default", "v1", "main", "alice").ok());
  AIFS_EXPECT_STATUS(remote_->CreateTag("default", "v1", "main", "x").status(), kAlreadyExists,
                     "TAG_EXISTS");
  EXPECT_EQ(remote_->ListTags("default")->size(), 1u);
  EXPECT_EQ(remote_->ListBranches("default")->size(), 1u);
  EXPECT_EQ(remote_->ListSnapshots("default")->size(), 2u);
  AIFS_EXPECT_OK(remote_->DeleteTag("default", "v1", "admin"));
  AIFS_EXPECT_OK(remote_->DeleteBranch("default", "main", "admin"));
  EXPECT_TRUE(remote_->ListBranches("default")->empty());

  NamespacePolicy policy;
  policy.max_assets = 2;
  policy.zstd_level = 3;
  policy.keep_snapshots = 1;
  policy.segment_size = 16384;
  auto with_policy = remote_->SetNamespacePolicy("default", policy);
  ASSERT_TRUE(with_policy.ok()) << with_policy.status().ToString();
  EXPECT_EQ(with_policy->policy, policy);
  EXPECT_EQ(engine().GetNamespace("default")->policy, policy);
  AIFS_EXPECT_STATUS(PutBytes(*remote_, RandomBytes(10, 99)).status(), kResourceExhausted,
                     "QUOTA_EXCEEDED");
  auto pruned = remote_->PruneSnapshots("default", {.dry_run = true});
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(pruned->removed, std::vector<SnapshotId>{s1->id});  // s0 is newest; no refs left
  EXPECT_TRUE(pruned->dry_run);
  ASSERT_TRUE(remote_->SetNamespacePolicy("default", {}).ok());

  ASSERT_TRUE(remote_->CreateNamespace("team", {{"owner", "ml"}}).ok());
  auto ns = remote_->GetNamespace("team");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->labels.at("owner"), "ml");
  EXPECT_EQ(ns->signing_public_key, engine().GetNamespace("team")->signing_public_key);
  EXPECT_EQ(remote_->ListNamespaces()->size(), 2u);
  AIFS_EXPECT_OK(remote_->DeleteNamespace("team"));
  auto gc = remote_->CollectGarbage(true);
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->orphan_objects, 0u);
  auto key = remote_->RotateKey();
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(remote_->DescribeStore()->kms_current_key, *key);
  AIFS_EXPECT_OK(remote_->CheckHealth());
}

// Every failure reaches the remote caller with the engine's own code and
// reason (through google.rpc.Status details), never as OK.
TEST_F(ServerTest, ErrorsKeepTheirCodeAndReasonAcrossTheWire) {
  StartServer();
  auto parent = MustPut(RandomBytes(1000, 1));
  PutOptions with_child;
  with_child.parents = {{parent.asset.id, "t", ""}};
  ASSERT_TRUE(PutBytes(engine(), RandomBytes(900, 2), with_child).ok());
  auto snap = engine().CreateSnapshot("default", nullptr);
  ASSERT_TRUE(snap.ok());
  ASSERT_TRUE(engine().CreateBranch("default", "b", snap->id.ToHex(), "x").ok());
  const AssetId missing = IdOf(ToBytes("not stored"));

  using Op = std::function<Status(Api&)>;
  auto put = [](PutOptions o, Bytes data) {
    return [o, data](Api& api) { return PutBytes(api, data, o).status(); };
  };
  const std::vector<std::pair<std::string, Op>> ops = {
      {"get missing ns", [](Api& a) { return a.GetNamespace("nope").status(); }},
      {"bad ns name", [](Api& a) { return a.GetNamespace("Bad/Name").status(); }},
      {"create existing ns", [](Api& a) { return a.CreateNamespace("default", {}).status(); }},
      {"delete non-empty ns", [](Api& a) { return a.DeleteNamespace("default"); }},
      {"put into missing ns", put({.ns = "nope"}, RandomBytes(10, 3))},
      {"put with missing parent", put({.parents = {{missing, "t", ""}}}, RandomBytes(10, 4))},
      {"put size mismatch", put({.expected_size = 11}, RandomBytes(10, 5))},
      {"put id mismatch", put({.expected_id = missing}, RandomBytes(10, 6))},
      {"stat missing", [&](Api& a) { return a.StatAsset("default", missing, false).status(); }},
      {"read missing", [&](Api& a) { return ReadBytes(a, "default", missing).status(); }},
      {"read past end",
       [&](Api& a) { return ReadBytes(a, "default", parent.asset.id, {5000, 1}).status(); }},
      {"delete with children", [&](Api& a) { return a.DeleteAsset("default", parent.asset.id); }},
      {"delete missing", [&](Api& a) { return a.DeleteAsset("default", missing); }},
      {"verify missing", [&](Api& a) { return a.VerifyAsset("default", missing).status(); }},
      {"lineage missing",
       [&](Api& a) {
         return a.GetLineage("default", missing, LineageDirection::kUp, 1).status();
       }},
      {"snapshot of missing asset",
       [&](Api& a) {
         std::vector<AssetId> ids = {missing};
         return a.CreateSnapshot("default", &ids).status();
       }},
      {"unknown snapshot", [](Api& a) { return a.GetSnapshot("default", "nosuch").status(); }},
      {"verify unknown snapshot", [](Api& a) { return a.VerifySnapshot("default", "nosuch"); }},
      {"prove non-member",
       [&](Api& a) { return a.ProveAsset("default", "b", missing).status(); }},
      {"diff unknown", [](Api& a) { return a.DiffSnapshots("default", "b", "zz").status(); }},
      {"branch exists",
       [&](Api& a) { return a.CreateBranch("default", "b", "b", "x").status(); }},
      {"move with stale expectation",
       [&](Api& a) { return a.MoveBranch("default", "b", SnapshotId(), "b", "x").status(); }},
      {"move missing branch",
       [&](Api& a) { return a.MoveBranch("default", "q", snap->id, "b", "x").status(); }},
      {"delete missing branch", [](Api& a) { return a.DeleteBranch("default", "q", "x"); }},
      {"tag named like a branch",
       [](Api& a) { return a.CreateTag("default", "b", "b", "x").status(); }},
      {"delete missing tag", [](Api& a) { return a.DeleteTag("default", "q", "x"); }},
      {"bad ref name", [](Api& a) { return a.CreateTag("default", "../x", "b", "x").status(); }},
      {"bad policy",
       [](Api& a) {
         NamespacePolicy p;
         p.zstd_level = 99;
         return a.SetNamespacePolicy("default", p).status();
       }},
      {"policy of missing ns", [](Api& a) { return a.SetNamespacePolicy("nope", {}).status(); }},
      {"prune missing ns", [](Api& a) { return a.PruneSnapshots("nope", {}).status(); }},
      {"events of bad ns",
       [](Api& a) {
         EventQuery q;
         q.ns = "Bad/Ns";
         return a.SubscribeEvents(q, [](const Event&) { return Status::Ok(); });
       }},
  };
  for (const auto& [what, op] : ops) {
    const Status local = op(engine());
    const Status far = op(*remote_);
    EXPECT_FALSE(local.ok()) << what << ": the engine accepted it";
    EXPECT_EQ(far.code(), local.code()) << what << ": " << far.ToString() << " vs "
                                        << local.ToString();
    EXPECT_EQ(far.reason(), local.reason()) << what << ": " << far.ToString();
  }
  // Nothing a refused put sent became visible.
  EXPECT_EQ(engine().GetNamespace("default")->asset_count, 2u);
}

// Hostile or broken put streams, sent with the raw stub: a clear error, and
// nothing visible or left behind.
TEST_F(ServerTest, BrokenPutStreamsCommitNothing) {
  StartServer();
  auto stub = RawStub();
  const Bytes data = RandomBytes(300000, 5);
  auto header = [] {
    v1::PutAssetRequest m;
    m.mutable_header()->set_ns("default");
    return m;
  };
  auto frame = [](ByteSpan raw) {
    v1::PutAssetRequest m;
    m.mutable_data()->set_data(raw.data(), raw.size());
    m.mutable_data()->set_raw_size(static_cast<uint32_t>(raw.size()));
    return m;
  };
  auto finish = [] {
    v1::PutAssetRequest m;
    m.mutable_finish();
    return m;
  };
  auto send = [&](const std::vector<v1::PutAssetRequest>& msgs) {
    grpc::ClientContext ctx;
    v1::PutAssetResponse resp;
    auto w = stub->PutAsset(&ctx, &resp);
    for (const auto& m : msgs)
      if (!w->Write(m)) break;
    w->WritesDone();
    return rpc::FromGrpc(w->Finish());
  };
  AIFS_EXPECT_STATUS(send({}), kInvalidArgument, "PUT_HEADER_MISSING");
  AIFS_EXPECT_STATUS(send({frame(data), finish()}), kInvalidArgument, "PUT_HEADER_MISSING");
  AIFS_EXPECT_STATUS(send({header(), frame(data)}), kInvalidArgument, "PUT_TRUNCATED");
  AIFS_EXPECT_STATUS(send({header(), frame(data), header(), finish()}), kInvalidArgument,
                     "PUT_UNEXPECTED_MESSAGE");
  // finish is the last message: data after it is refused, not dropped.
  AIFS_EXPECT_STATUS(send({header(), frame(data), finish(), frame(data)}), kInvalidArgument,
                     "PUT_DATA_AFTER_FINISH");
  AIFS_EXPECT_STATUS(send({header(), finish(), finish()}), kInvalidArgument,
                     "PUT_DATA_AFTER_FINISH");
  auto lying = frame(data);
  lying.mutable_data()->set_raw_size(12);
  AIFS_EXPECT_STATUS(send({header(), lying, finish()}), kInvalidArgument, "BAD_FRAME");
  const Bytes big = RandomBytes((1 << 20) + 1, 6);
  AIFS_EXPECT_STATUS(send({header(), frame(big), finish()}), kInvalidArgument, "BAD_FRAME");
  // A zstd bomb: 64 MiB of zeros in a few KiB, claiming to be 1 MiB.
  Bytes zeros(64 << 20, 0), bomb(ZSTD_compressBound(zeros.size()));
  bomb.resize(ZSTD_compress(bomb.data(), bomb.size(), zeros.data(), zeros.size(), 1));
  auto bomb_frame = frame(bomb);
  bomb_frame.mutable_data()->set_encoding(v1::DataFrame::ZSTD);
  bomb_frame.mutable_data()->set_raw_size(1 << 20);
  AIFS_EXPECT_STATUS(send({header(), bomb_frame, finish()}), kInvalidArgument, "BAD_FRAME");
  auto garbage = frame(data);
  garbage.mutable_data()->set_encoding(v1::DataFrame::ZSTD);
  garbage.mutable_data()->set_raw_size(1000);
  AIFS_EXPECT_STATUS(send({header(), garbage, finish()}), kInvalidArgument, "BAD_FRAME");
  auto unknown = frame(data);
  unknown.mutable_data()->set_encoding(static_cast<v1::DataFrame::Encoding>(7));
  AIFS_EXPECT_STATUS(send({header(), unknown, finish()}), kInvalidArgument, "BAD_FRAME");
  auto bad_parent = header();
  bad_parent.mutable_header()->add_parents()->set_asset("short");
  AIFS_EXPECT_STATUS(send({bad_parent, frame(data), finish()}), kInvalidArgument, "BAD_ASSET_ID");

  // A client that goes away mid-stream.
  {
    grpc::ClientContext ctx;
    v1::PutAssetResponse resp;
    auto w = stub->PutAsset(&ctx, &resp);
    ASSERT_TRUE(w->Write(header()));
    ASSERT_TRUE(w->Write(frame(data)));
    ctx.TryCancel();
    EXPECT_FALSE(w->Finish().ok());
  }
  // The same bytes, well formed, go through: the failures were about the
  // streams, not the data.
  AIFS_EXPECT_OK(send({header(), frame(data), finish()}));
  EXPECT_EQ(engine().GetNamespace("default")->asset_count, 1u);
  // Every object the aborted puts wrote is gone again (allow the server a
  // moment to finish unwinding the cancelled call).
  for (int i = 0; i < 50; ++i) {
    auto gc = engine().CollectGarbage(true);
    ASSERT_TRUE(gc.ok());
    if (gc->orphan_objects == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(engine().CollectGarbage(true)->orphan_objects, 0u);
}

TEST_F(ServerTest, TransactionsCommitTogetherAbortAndExpire) {
  server::ServerOptions options;
  options.transaction_lease = std::chrono::seconds(1);
  StartServer(options);
  const Bytes pa = RandomBytes(5000, 1), pb = RandomBytes(6000, 2);
  {
    auto txn = remote_->BeginTransaction("default");
    ASSERT_TRUE(txn.ok());
    auto w = (*txn)->BeginPut({});
    ASSERT_TRUE(w.ok());
    AIFS_ASSERT_OK((*w)->Write(pa));
    auto a = (*w)->Commit();
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_TRUE(a->staged);
    auto w2 = (*txn)->BeginPut({.parents = {{a->asset.id, "derive", ""}}});
    ASSERT_TRUE(w2.ok());
    AIFS_ASSERT_OK((*w2)->Write(pb));
    ASSERT_TRUE((*w2)->Commit().ok());
    AIFS_EXPECT_STATUS(engine().StatAsset("default", a->asset.id, false).status(), kNotFound,
                       "ASSET_NOT_FOUND");  // staged only
    auto done = (*txn)->Commit();
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    EXPECT_EQ(done->size(), 2u);
  }
  EXPECT_EQ(engine().GetNamespace("default")->asset_count, 2u);
  {
    auto txn = remote_->BeginTransaction("default");
    ASSERT_TRUE(txn.ok());
    auto w = (*txn)->BeginPut({});
    AIFS_ASSERT_OK((*w)->Write(RandomBytes(100, 3)));
    ASSERT_TRUE((*w)->Commit().ok());
  }  // dropped: aborted on the server
  EXPECT_EQ(engine().GetNamespace("default")->asset_count, 2u);
  {
    auto txn = remote_->BeginTransaction("default");
    ASSERT_TRUE(txn.ok());
    auto wrong_ns = (*txn)->BeginPut({.ns = "other"});
    ASSERT_TRUE(wrong_ns.ok());  // the error comes with the stream's end
    AIFS_EXPECT_STATUS((*wrong_ns)->Commit().status(), kInvalidArgument,
                       "TRANSACTION_NAMESPACE");
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // lease runs out
    AIFS_EXPECT_STATUS((*txn)->Commit().status(), kNotFound, "TRANSACTION_NOT_FOUND");
  }
  EXPECT_EQ(engine().GetNamespace("default")->asset_count, 2u);
}

TEST_F(ServerTest, EventsStreamResumeAndArrivePromptly) {
  StartServer();
  auto first = PutBytes(*remote_, RandomBytes(100, 1));
  ASSERT_TRUE(first.ok());
  std::vector<Event> all;
  AIFS_ASSERT_OK(remote_->SubscribeEvents({}, [&](const Event& e) {
    all.push_back(e);
    return Status::Ok();
  }));
  ASSERT_EQ(all.size(), 2u);  // namespace "default" created, the put
  EXPECT_EQ(all[1].type, EventType::kAssetCommitted);
  EXPECT_EQ(all[1].asset, first->asset.id);

  // A follower on its own connection; a put on another reaches it promptly.
  auto follower_api = Connect();
  std::atomic<bool> stop{false};
  std::vector<std::pair<Event, std::chrono::steady_clock::time_point>> got;
  std::mutex mu;
  EventQuery q;
  q.after = all.back().seq;
  q.follow = true;
  q.keep_going = [&] { return !stop.load(); };
  std::thread follower([&] {
    Status st = follower_api->SubscribeEvents(q, [&](const Event& e) {
      std::lock_guard lock(mu);
      got.emplace_back(e, std::chrono::steady_clock::now());
      return Status::Ok();
    });
    EXPECT_EQ(st.reason(), "SUBSCRIPTION_ENDED") << st.ToString();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::vector<std::chrono::nanoseconds> delays;
  std::vector<AssetId> ids;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = PutBytes(*remote_, RandomBytes(100, 10 + i));
    ASSERT_TRUE(r.ok());
    ids.push_back(r->asset.id);
    while (true) {
      {
        std::lock_guard lock(mu);
        if (got.size() == ids.size()) {
          delays.push_back(got.back().second - t0);
          break;
        }
      }
      ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  // The heartbeat lets the client notice keep_going within about a second.
  stop = true;
  follower.join();
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(got[i].first.asset, ids[i]);
  std::sort(delays.begin(), delays.end());
  // Includes the put's own commit; the push itself adds no polling delay.
  EXPECT_LT(delays[delays.size() / 2], std::chrono::milliseconds(100));

  // Resume after the third of them: exactly the last two, once.
  std::vector<Event> rest;
  EventQuery resume;
  resume.after = got[2].first.seq;
  AIFS_ASSERT_OK(remote_->SubscribeEvents(resume, [&](const Event& e) {
    rest.push_back(e);
    return Status::Ok();
  }));
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].asset, ids[3]);
  EXPECT_EQ(rest[1].asset, ids[4]);
}

// 16 clients, each on its own connection, mixing puts, reads and snapshots;
// afterwards every byte of every asset is checked.
TEST_F(ServerTest, SixteenConcurrentClientsLoseNothing) {
  StartServer();
  constexpr int kClients = 16, kOps = 12;
  std::vector<std::vector<std::pair<AssetId, uint64_t>>> written(kClients);
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      auto api = Connect(c % 2 == 0);
      if (!api) return void(++failures);
      for (int i = 0; i < kOps; ++i) {
        const uint64_t seed = 1000 * c + i;
        const Bytes data = (i % 3 == 0) ? TextBytes(20000 + 1000 * i, seed)
                                        : RandomBytes(30000 + 7000 * i, seed);
        auto put = PutBytes(*api, data);
        if (!put.ok() || put->asset.id != IdOf(data)) {
          ++failures;
          continue;
        }
        written[c].emplace_back(put->asset.id, seed);
        auto back = ReadBytes(*api, "default", written[c][i / 2].first);
        if (!back.ok() || IdOf(*back) != written[c][i / 2].first) ++failures;
        if (i % 4 == 3 && !api->CreateSnapshot("default", nullptr).ok()) ++failures;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  size_t total = 0;
  for (int c = 0; c < kClients; ++c)
    for (const auto& [id, seed] : written[c]) {
      ++total;
      auto report = engine().VerifyAsset("default", id);
      ASSERT_TRUE(report.ok());
      AIFS_EXPECT_OK(report->result);
    }
  EXPECT_EQ(total, size_t{kClients * kOps});
  EXPECT_EQ(engine().GetNamespace("default")->asset_count, total);
  auto snaps = engine().ListSnapshots("default");
  ASSERT_TRUE(snaps.ok());
  EXPECT_EQ(snaps->size(), size_t{kClients * (kOps / 4)});
  for (const auto& s : *snaps) AIFS_EXPECT_OK(engine().VerifySnapshot("default", s.id.ToHex()));
}

// However small the chunks (here 4-64 KiB), a read travels in full 1 MiB
// frames, each saying where it starts; only the last is shorter.
TEST_F(ServerTest, ReadFramesAreFullWhateverTheChunkSize) {
  StartServer();
  const Bytes data = RandomBytes((3 << 20) + 5, 1611);
  const AssetId id = MustPut(data).asset.id;
  ASSERT_GT(engine().StatAsset("default", id, false)->chunk_count, 50u);
  auto frames = [&](uint64_t offset, std::optional<uint64_t> length) {
    v1::ReadAssetRequest req;
    req.set_ns("default");
    req.set_id(std::string(id.bytes().begin(), id.bytes().end()));
    req.set_offset(offset);
    if (length) req.set_length(*length);
    grpc::ClientContext ctx;
    auto stream = RawStub()->ReadAsset(&ctx, req);
    std::vector<std::pair<uint64_t, std::string>> out;
    v1::ReadAssetResponse msg;
    while (stream->Read(&msg)) out.push_back({msg.offset(), msg.data().data()});
    EXPECT_TRUE(stream->Finish().ok());
    return out;
  };
  auto expect = [&](const auto& got, uint64_t offset, std::vector<size_t> sizes) {
    ASSERT_EQ(got.size(), sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_EQ(got[i].first, offset) << "frame " << i;
      ASSERT_EQ(got[i].second.size(), sizes[i]) << "frame " << i;
      EXPECT_EQ(std::memcmp(got[i].second.data(), data.data() + offset, sizes[i]), 0);
      offset += sizes[i];
    }
  };
  expect(frames(0, std::nullopt), 0, {1 << 20, 1 << 20, 1 << 20, 5});
  expect(frames(100, (5 << 19)), 100, {1 << 20, 1 << 20, 1 << 19});
  expect(frames(7, 3), 7, {3});
}

TEST_F(ServerTest, ZstdFramesShrinkCompressibleDataOnTheWireBothWays) {
  StartServer();
  const Bytes text = TextBytes(4 << 20, 1);
  auto put = PutBytes(*remote_, text);
  ASSERT_TRUE(put.ok());
  ASSERT_TRUE(ReadBytes(*remote_, "default", put->asset.id).ok());
  std::string m = MetricsText();
  EXPECT_EQ(Metric(m, "aifs_data_bytes_in_total"), static_cast<double>(text.size()));
  EXPECT_LT(Metric(m, "aifs_wire_bytes_in_total"), text.size() / 2.0);
  EXPECT_EQ(Metric(m, "aifs_data_bytes_out_total"), static_cast<double>(text.size()));
  EXPECT_LT(Metric(m, "aifs_wire_bytes_out_total"), text.size() / 2.0);

  // Without zstd (or for random data) the wire carries the bytes as they are.
  auto plain = Connect(/*zstd=*/false);
  const Bytes text2 = TextBytes(2 << 20, 2);
  ASSERT_TRUE(PutBytes(*plain, text2).ok());
  std::string m2 = MetricsText();
  EXPECT_EQ(Metric(m2, "aifs_wire_bytes_in_total") - Metric(m, "aifs_wire_bytes_in_total"),
            static_cast<double>(text2.size()));
  EXPECT_GE(Metric(m2, R"(aifs_rpc_calls_total{method="/aifs.v1.Aifs/PutAsset",code="OK"})"), 2);
  EXPECT_GE(Metric(m2, R"(aifs_rpc_duration_seconds_count{method="/aifs.v1.Aifs/ReadAsset"})"),
            1);
  EXPECT_EQ(Metric(m2, "aifs_assets"), 2);
  // Two text assets: no dedup between them, zstd shrinks the stored bytes.
  EXPECT_EQ(Metric(m2, "aifs_unique_bytes"), static_cast<double>(text.size() + text2.size()));
  EXPECT_DOUBLE_EQ(Metric(m2, "aifs_dedup_ratio"), 1.0);
  EXPECT_GT(Metric(m2, "aifs_compression_ratio"), 2.0);
  ASSERT_TRUE(PutBytes(*plain, text2).ok());  // the same bytes again: pure dedup
  auto twice = MetricsText();
  EXPECT_EQ(Metric(twice, "aifs_logical_bytes"), static_cast<double>(text.size() + text2.size()));
  ASSERT_TRUE(PutBytes(*plain, Concat({text2, text2})).ok());  // new asset, old chunks mostly
  auto thrice = MetricsText();
  EXPECT_GT(Metric(thrice, "aifs_dedup_ratio"), 1.5);
  EXPECT_EQ(Metric(m2, "aifs_store_up"), 1);
  EXPECT_EQ(Metric(m2, "aifs_txn_conflicts_retried_total"), 0);  // one put at a time
}

// A unary request gRPC cannot parse (here a proto3 string that is not UTF-8)
// is INVALID_ARGUMENT with an ErrorInfo, like every error, not a bare INTERNAL.
TEST_F(ServerTest, UnparsableRequestIsInvalidArgumentWithErrorInfo) {
  StartServer();
  auto call = [&](const std::string& raw) {
    grpc::GenericStub stub(Channel());
    grpc::CompletionQueue cq;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Slice slice(raw);
    grpc::ByteBuffer request(&slice, 1), response;
    auto rpc = stub.PrepareUnaryCall(&ctx, "/aifs.v1.Aifs/GetNamespace", request, &cq);
    rpc->StartCall();
    grpc::Status st;
    rpc->Finish(&response, &st, nullptr);
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return st;
  };
  // GetNamespaceRequest.name (field 1, length-delimited): the same raw path
  // answers a well-formed request.
  ASSERT_TRUE(call(std::string("\x0a\x07"
                               "default",
                               9))
                  .ok());
  const grpc::Status bad = call(std::string("\x0a\x02\xff\xfe", 4));
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad.error_message();
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(bad.error_details())) << "no google.rpc.Status";
  google::rpc::ErrorInfo info;
  ASSERT_EQ(details.details_size(), 1);
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.domain(), "aifs");
  EXPECT_EQ(info.reason(), "REQUEST_MALFORMED");
  // Truncated wire format too.
  AIFS_EXPECT_STATUS(rpc::FromGrpc(call(std::string("\x0a\x09"
                                                    "def",
                                                    5))),
                     kInvalidArgument, "REQUEST_MALFORMED");
}

// The exposition text passes Prometheus's own parser and linter (promtool,
// Debian package prometheus), and bucket bounds print as written ("0.0005").
TEST_F(ServerTest, MetricsPassPromtool) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "promtool (Debian package prometheus) is not installed";
  StartServer();
  ASSERT_TRUE(PutBytes(*remote_, TextBytes(100000, 3)).ok());
  ASSERT_TRUE(remote_->CreateSpace("default", {"m", 3, VectorMetric::kL2}).ok());
  const std::string text = MetricsText();
  EXPECT_NE(text.find(R"(le="0.0005")"), std::string::npos) << text;
  EXPECT_EQ(text.find("0000000"), std::string::npos) << text;
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.Sub("metrics.txt"), text).ok());
  const std::string cmd = "promtool check metrics < " + dir.Sub("metrics.txt") + " > " +
                          dir.Sub("promtool.out") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  auto report = ReadFileToString(dir.Sub("promtool.out"));
  EXPECT_EQ(rc, 0) << (report.ok() ? *report : "") << "\n" << text;
}

TEST_F(ServerTest, HealthFollowsTheBackends) {
  server::ServerOptions options;
  options.health_interval = std::chrono::milliseconds(50);
  StartServer(options);
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
  auto status_of = [&](const std::string& service) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    EXPECT_TRUE(health->Check(&ctx, req, &resp).ok());
    return resp.status();
  };
  using HS = grpc::health::v1::HealthCheckResponse;
  EXPECT_EQ(status_of(""), HS::SERVING);
  EXPECT_EQ(status_of("readiness"), HS::SERVING);
  EXPECT_EQ(status_of("liveness"), HS::SERVING);
  // The chunk store stops taking writes: not ready (but alive) until it is back.
  std::filesystem::rename(ChunkDir(), ChunkDir() + ".away");
  auto wait_for = [&](HS::ServingStatus want) {
    for (int i = 0; i < 100 && status_of("readiness") != want; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return status_of("readiness");
  };
  EXPECT_EQ(wait_for(HS::NOT_SERVING), HS::NOT_SERVING);
  EXPECT_EQ(status_of("liveness"), HS::SERVING);
  EXPECT_FALSE(remote_->CheckHealth().ok());
  std::filesystem::rename(ChunkDir() + ".away", ChunkDir());
  EXPECT_EQ(wait_for(HS::SERVING), HS::SERVING);
  AIFS_EXPECT_OK(remote_->CheckHealth());
}

TEST_F(ServerTest, ConnectingToNothingIsUnavailable) {
  auto r = ConnectRemote({.target = "127.0.0.1:1", .connect_timeout = std::chrono::seconds(1)});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace aifs::test

namespace aifs::test {
namespace {

TEST_F(ServerTest, FormatIsIdempotentStreamsItsStepsAndIsAudited) {
  StartServer();
  std::vector<std::string> seen;
  auto progress = [&](const FormatStep& s) { seen.push_back(s.name + ":" + s.state); };
  auto dry = remote_->Format({.dry_run = true, .who = "ops"}, progress);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_FALSE(dry->root_snapshot.has_value());
  EXPECT_EQ(seen, (std::vector<std::string>{"backends:ok", "root namespace:ok",
                                            "vector index:ok",
                                            "root snapshot:would create"}));
  EXPECT_TRUE(engine().ListSnapshots("default")->empty());  // a dry run changes nothing

  MustPut(RandomBytes(1000, 1));
  seen.clear();
  auto first = remote_->Format({.who = "ops"}, progress);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->root_snapshot.has_value());
  EXPECT_EQ(seen.back(), "root snapshot:created");
  auto tagged = engine().GetSnapshot("default", "root");
  ASSERT_TRUE(tagged.ok());
  EXPECT_EQ(tagged->id, *first->root_snapshot);
  EXPECT_EQ(tagged->count, 1u);

  seen.clear();
  auto second = engine().Format({.who = "local"}, progress);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->root_snapshot, first->root_snapshot);
  for (const auto& s : seen) EXPECT_TRUE(s.ends_with(":ok") || s.ends_with(":skipped")) << s;
  EXPECT_EQ(engine().ListSnapshots("default")->size(), 1u);

  auto history = remote_->FormatHistory();
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 3u);
  EXPECT_TRUE((*history)[0].dry_run);
  EXPECT_EQ((*history)[0].who, "token " + TokenName() + " (claims ops)");
  EXPECT_EQ((*history)[2].who, "local");
  EXPECT_EQ((*history)[2].root_snapshot, first->root_snapshot);
}

}  // namespace
}  // namespace aifs::test

namespace aifs::test {
namespace {

TEST_F(ServerTest, VectorSearchOverTheWireMatchesTheEngine) {
  StartServer();
  ASSERT_TRUE(remote_->CreateSpace("default", {"m", 3, VectorMetric::kL2}).ok());
  AIFS_EXPECT_STATUS(remote_->CreateSpace("default", {"m", 3, VectorMetric::kL2}).status(),
                     kAlreadyExists, "SPACE_EXISTS");
  for (int i = 0; i < 50; ++i) {
    PutOptions o;
    o.metadata = {{"n", std::to_string(i)}};
    o.embeddings = {{"m", {float(i), float(i % 7), 1.0f}}};
    ASSERT_TRUE(PutBytes(*remote_, ToBytes("v" + std::to_string(i)), o).ok());
  }
  AIFS_EXPECT_STATUS(
      PutBytes(*remote_, ToBytes("bad"), {.embeddings = {{"m", {1, 2}}}}).status(),
      kInvalidArgument, "DIMENSION_MISMATCH");
  const VectorQuery q{.space = "m", .vector = {10, 3, 1}, .k = 5,
                      .filters = {{"n", MetaFilter::Op::kRange, "", {}, 20, std::nullopt}}};
  auto far = remote_->VectorSearch(q);
  auto local = engine().VectorSearch(q);
  ASSERT_TRUE(far.ok() && local.ok()) << far.status().ToString();
  ASSERT_EQ(far->hits.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(far->hits[i].id, local->hits[i].id);
    EXPECT_EQ(far->hits[i].score, local->hits[i].score);
  }
  EXPECT_EQ(far->hits[0].id, IdOf(ToBytes("v20")));
  auto spaces = remote_->ListSpaces("default");
  ASSERT_TRUE(spaces.ok());
  ASSERT_EQ(spaces->size(), 1u);
  EXPECT_EQ((*spaces)[0].vectors, 50u);
  EXPECT_EQ((*spaces)[0].metric, VectorMetric::kL2);
  EXPECT_EQ(Metric(MetricsText(), R"(aifs_vector_index_vectors{ns="default",space="m",dim="3"})"),
            50);
}

TEST_F(ServerTest, VectorSearchIsRateLimitedPerTokenWithRetryInfo) {
  // 2 searches per second, burst 3: the fourth call at once is refused with
  // RESOURCE_EXHAUSTED RATE_LIMITED and a RetryInfo saying when a token is
  // back; another token has its own bucket; after the wait, the call passes.
  server::ServerOptions options;
  options.search_limit = {.per_second = 2, .burst = 3};
  StartServer(options);
  ASSERT_TRUE(remote_->CreateSpace("default", {"m", 2, VectorMetric::kL2}).ok());
  auto stub = RawStub();
  v1::VectorSearchRequest req;
  req.set_ns("default");
  req.set_space("m");
  req.add_vector(1);
  req.add_vector(0);
  req.set_k(1);
  auto call = [&](std::shared_ptr<grpc::Channel> channel) {
    grpc::ClientContext ctx;
    v1::VectorSearchResponse resp;
    return v1::Aifs::NewStub(channel)->VectorSearch(&ctx, req, &resp);
  };
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(call(Channel()).ok()) << i;
  const grpc::Status refused = call(Channel());
  ASSERT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(rpc::FromGrpc(refused).reason(), "RATE_LIMITED");
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(refused.error_details()));
  std::optional<google::rpc::RetryInfo> retry;
  for (const auto& any : details.details()) {
    google::rpc::RetryInfo r;
    if (any.UnpackTo(&r)) retry = r;
  }
  ASSERT_TRUE(retry.has_value()) << "no RetryInfo detail";
  const int64_t ms = retry->retry_delay().seconds() * 1000 + retry->retry_delay().nanos() / 1000000;
  EXPECT_GT(ms, 0);
  EXPECT_LE(ms, 500);  // one token every 500 ms
  // A different token (attenuated copies share the identifier, minted ones
  // do not) is not held back.
  auto other = tokens_->Mint({});
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(call(Channel(*other)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(ms + 50));
  EXPECT_TRUE(call(Channel()).ok());
}

}  // namespace
}  // namespace aifs::test

// ---- Capability tokens: every RPC checks them ------------------------------

namespace aifs::test {
namespace {

// The services whose every method needs a token (grpc.health.v1 stays open).
const std::vector<std::string> kGuardedServices = {"aifs.v1.Aifs", "aifs.v1.Admin",
                                                   "aifs.v1.Introspect", "aifs.v1.Metrics"};

std::vector<const google::protobuf::MethodDescriptor*> AllMethods() {
  std::vector<const google::protobuf::MethodDescriptor*> out;
  for (const std::string& name : kGuardedServices) {
    const auto* svc = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    EXPECT_NE(svc, nullptr) << name;
    if (!svc) continue;
    for (int i = 0; i < svc->method_count(); ++i) out.push_back(svc->method(i));
  }
  return out;
}

std::string FullName(const google::protobuf::MethodDescriptor* m) {
  return "/" + m->service()->full_name() + "/" + m->name();
}

// Sets a string or bytes field by dotted path ("header.ns"); a repeated
// message on the way ("ranges.id") gets one element.
void SetPath(google::protobuf::Message& msg, std::string_view path, const std::string& value) {
  google::protobuf::Message* m = &msg;
  while (true) {
    const size_t dot = path.find('.');
    const auto* f = m->GetDescriptor()->FindFieldByName(std::string(path.substr(0, dot)));
    ASSERT_NE(f, nullptr) << path;
    if (dot == std::string_view::npos) {
      m->GetReflection()->SetString(m, f, value);
      return;
    }
    m = f->is_repeated() ? m->GetReflection()->AddMessage(m, f)
                         : m->GetReflection()->MutableMessage(m, f);
    path = path.substr(dot + 1);
  }
}

// Where the server's verdict came from: the token check, or past it.
bool AuthFailure(const Status& st) {
  return st.code() == Code::kUnauthenticated || st.code() == Code::kPermissionDenied;
}

class TokenTest : public ServerTest {
 protected:
  // One call of any method (unary or streaming) with one request message and
  // the given token ("" sends none), through the generic stub.
  Status CallRaw(const std::string& method, const google::protobuf::Message& req,
                 const std::string& token) {
    grpc::GenericStub stub(grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    grpc::CompletionQueue cq;
    auto call = stub.PrepareCall(&ctx, method, &cq);
    void* tag = nullptr;
    bool ok = false;
    auto step = [&](auto&& op) {
      op();
      cq.Next(&tag, &ok);
      return ok;
    };
    step([&] { call->StartCall(nullptr); });
    grpc::ByteBuffer request, response;
    bool own = false;
    using Writer = grpc::ProtoBufferWriter;
    const grpc::Status serialized =
        grpc::GenericSerialize<Writer, google::protobuf::Message>(req, &request, &own);
    EXPECT_TRUE(serialized.ok());
    step([&] { call->Write(request, nullptr); });
    step([&] { call->WritesDone(nullptr); });
    // A follower would stream on; the verdict is in the status either way.
    // A stream that answered got past the token check; a follower would
    // stream on, so stop it.
    if (step([&] { call->Read(&response, nullptr); })) ctx.TryCancel();
    grpc::Status st;
    step([&] { call->Finish(&st, nullptr); });
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return rpc::FromGrpc(st);
  }

  // The request a rule reads: namespace "default", branch "main", one asset.
  std::unique_ptr<google::protobuf::Message> RequestFor(
      const google::protobuf::MethodDescriptor* m, const server::RpcRule& rule) {
    std::unique_ptr<google::protobuf::Message> req(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(m->input_type())->New());
    if (!rule.ns_field.empty() && !rule.ns_from_transaction) SetPath(*req, rule.ns_field, "default");
    if (!rule.branch_field.empty()) SetPath(*req, rule.branch_field, "main");
    if (!rule.asset_field.empty()) SetPath(*req, rule.asset_field, std::string(32, '\x01'));
    return req;
  }

  std::string Attenuated(const std::vector<std::string>& caveats) {
    auto t = auth::AttenuateToken(token_, caveats);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : "";
  }
};

// One table covers every RPC of every guarded service.
TEST_F(TokenTest, EveryRpcHasARule) {
  const auto methods = AllMethods();
  EXPECT_GE(methods.size(), 40u);
  for (const auto* m : methods)
    EXPECT_NE(server::FindRpcRule(FullName(m)), nullptr) << FullName(m) << " has no token rule";
}

// The full RPC x token matrix: each method, called with each kind of bad
// token, is refused with the right code and reason before it does anything;
// a token with exactly the right caveats gets past the check.
TEST_F(TokenTest, EveryRpcRefusesEveryBadToken) {
  StartServer();
  uint8_t other_key[32];
  AIFS_ASSERT_OK(SecureRandom(other_key));
  auth::Macaroon forged_m =
      *auth::Macaroon::Mint("aifs", other_key, "r1:0123456789abcdef0123456789abcdef");
  const std::string forged = forged_m.Serialize();
  const std::string unknown_key =
      auth::Macaroon::Mint("aifs", other_key, "r9:0123456789abcdef0123456789abcdef")->Serialize();
  const std::string expired = Attenuated({"expires < 2001-01-01T00:00:00Z"});
  const std::string other_ns = Attenuated({"ns = other"});
  // AttenuateToken refuses caveats AIFS cannot read; the raw macaroon does not.
  const std::string unknown_caveat =
      auth::Macaroon::Parse(token_)->AddCaveat("nss = default")->Serialize();
  int calls = 0, methods = 0;
  for (const auto* m : AllMethods()) {
    const std::string name = FullName(m);
    const server::RpcRule* rule = server::FindRpcRule(name);
    ASSERT_NE(rule, nullptr) << name;
    ++methods;
    auto req = RequestFor(m, *rule);
    auto expect = [&](const std::string& token, Code code, const std::string& reason,
                      const std::string& what) {
      Status st = CallRaw(name, *req, token);
      ++calls;
      EXPECT_EQ(st.code(), code) << name << " with " << what << ": " << st.ToString();
      EXPECT_EQ(st.reason(), reason) << name << " with " << what << ": " << st.ToString();
    };
    expect("", Code::kUnauthenticated, "TOKEN_MISSING", "no token");
    expect("not-a-token", Code::kUnauthenticated, "TOKEN_MALFORMED", "garbage");
    expect(token_.substr(0, token_.size() / 2), Code::kUnauthenticated, "TOKEN_MALFORMED",
           "a truncated token");
    expect(forged, Code::kUnauthenticated, "BAD_SIGNATURE", "a forged token");
    expect(unknown_key, Code::kUnauthenticated, "UNKNOWN_KEY", "an unknown root key");
    expect(expired, Code::kPermissionDenied, "TOKEN_EXPIRED", "an expired token");
    // Caveats outside the grammar fail closed, even when they look harmless.
    expect(unknown_caveat, Code::kPermissionDenied, "UNKNOWN_CAVEAT", "an unknown caveat");
    if (rule->scope != auth::Access::Scope::kAny && rule->scope != auth::Access::Scope::kListing)
      expect(other_ns, Code::kPermissionDenied, "WRONG_NAMESPACE", "another namespace");
    if (rule->op != auth::kOpNone) {
      const uint32_t others = auth::kAllOps & ~rule->op;
      const std::string wrong_op = Attenuated({auth::OpsCaveat(others)});
      expect(wrong_op, Code::kPermissionDenied, "OPERATION_NOT_ALLOWED", "every other op");
      // Caveat injection: a caveat added later cannot widen an earlier one.
      expect(Attenuated({auth::OpsCaveat(others), auth::OpsCaveat(rule->op)}),
             Code::kPermissionDenied, "OPERATION_NOT_ALLOWED", "an op added after the fact");
      expect(Attenuated({auth::OpsCaveat(others), "ns = default", "ns = default,other"}),
             Code::kPermissionDenied, "OPERATION_NOT_ALLOWED", "widened namespaces");
    }
    // Exactly enough: past the token check (whatever the call then says).
    std::vector<std::string> enough;
    if (rule->op != auth::kOpNone) enough.push_back(auth::OpsCaveat(rule->op));
    if (rule->scope == auth::Access::Scope::kNamespace && !rule->ns_from_transaction)
      enough.push_back("ns = default");
    Status st = CallRaw(name, *req, Attenuated(enough));
    ++calls;
    EXPECT_FALSE(AuthFailure(st)) << name << " with just enough rights: " << st.ToString();
  }
  std::cout << "token matrix: " << methods << " RPCs, " << calls << " calls\n";
}

TEST_F(TokenTest, ScopedTokensSeeOnlyTheirNamespaces) {
  AIFS_ASSERT_OK(engine().CreateNamespace("alpha", {}).status());
  AIFS_ASSERT_OK(engine().CreateNamespace("beta", {}).status());
  StartServer();
  const std::string alpha = Attenuated({"ns = alpha", "ops = list,get,put"});
  auto r = ConnectRemote({.target = target_, .token = alpha});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto listed = (*r)->ListNamespaces();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "alpha");
  AIFS_EXPECT_OK(PutBytes(**r, "alpha", RandomBytes(1000, 1)).status());
  AIFS_EXPECT_STATUS(PutBytes(**r, "beta", RandomBytes(1000, 1)).status(), kPermissionDenied,
                     "WRONG_NAMESPACE");
  AIFS_EXPECT_STATUS((*r)->GetNamespace("beta").status(), kPermissionDenied, "WRONG_NAMESPACE");
  AIFS_EXPECT_STATUS((*r)->CollectGarbage(true).status(), kPermissionDenied, "WRONG_NAMESPACE");
  // Attenuation chains only narrow: alpha -> alpha + get -> no put.
  auto narrower = auth::AttenuateToken(alpha, {"ops = get,list"});
  ASSERT_TRUE(narrower.ok());
  auto r2 = ConnectRemote({.target = target_, .token = *narrower});
  ASSERT_TRUE(r2.ok());
  AIFS_EXPECT_STATUS(PutBytes(**r2, "alpha", RandomBytes(10, 2)).status(), kPermissionDenied,
                     "OPERATION_NOT_ALLOWED");
  AIFS_EXPECT_OK((*r2)->ListAssets({.ns = "alpha"}).status());
  // An asset-scoped token reads that asset and nothing else.
  auto id = PutBytes(*remote_, "alpha", RandomBytes(100, 3));
  ASSERT_TRUE(id.ok());
  auto one = auth::AttenuateToken(*narrower, {auth::AssetCaveat({id->asset.id.ToHex()})});
  auto r3 = ConnectRemote({.target = target_, .token = *one});
  ASSERT_TRUE(r3.ok());
  AIFS_EXPECT_OK((*r3)->StatAsset("alpha", id->asset.id, false).status());
  AIFS_EXPECT_STATUS((*r3)->ListAssets({.ns = "alpha"}).status(), kPermissionDenied,
                     "WRONG_ASSET");
  // A batched read names every asset it reads: each must be the token's.
  auto other = PutBytes(*remote_, "alpha", RandomBytes(100, 4));
  ASSERT_TRUE(other.ok());
  const RangeRead mine{id->asset.id, 10, 20}, theirs{other->asset.id, 0, 1};
  auto count = [](size_t, ByteSpan) { return Status::Ok(); };
  const std::vector<RangeRead> own{mine, mine}, mixed{mine, theirs, mine};
  AIFS_EXPECT_OK((*r3)->ReadRanges("alpha", own, count));
  AIFS_EXPECT_STATUS((*r3)->ReadRanges("alpha", mixed, count), kPermissionDenied, "WRONG_ASSET");
  AIFS_EXPECT_STATUS((*r3)->ReadRanges("alpha", {}, count), kPermissionDenied, "WRONG_ASSET");
  // A branch-scoped token moves its branch and no other.
  auto snap = remote_->CreateSnapshot("alpha", nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  auto dev = auth::AttenuateToken(token_, {"ops = branch", "branch = dev"});
  auto r4 = ConnectRemote({.target = target_, .token = *dev});
  ASSERT_TRUE(r4.ok());
  AIFS_EXPECT_OK((*r4)->CreateBranch("alpha", "dev", snap->id.ToHex(), "t").status());
  AIFS_EXPECT_STATUS((*r4)->CreateBranch("alpha", "main2", snap->id.ToHex(), "t").status(),
                     kPermissionDenied, "WRONG_BRANCH");
  AIFS_EXPECT_STATUS((*r4)->ListBranches("alpha").status(), kPermissionDenied,
                     "OPERATION_NOT_ALLOWED");
}

TEST_F(TokenTest, RotationKeepsOldTokensUntilTheirKeyIsRevoked) {
  StartServer();
  const std::string old_token = token_;
  auto rotated = keys_->Rotate();
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(rotated->id, "r2");
  auto fresh = tokens_->Mint({});
  ASSERT_TRUE(fresh.ok());
  auto with = [&](const std::string& t) { return ConnectRemote({.target = target_, .token = t}); };
  AIFS_EXPECT_OK(with(old_token).status());
  AIFS_EXPECT_OK(with(*fresh).status());
  AIFS_ASSERT_OK(keys_->Revoke("r1"));
  AIFS_EXPECT_STATUS(with(old_token).status(), kUnauthenticated, "KEY_REVOKED");
  AIFS_EXPECT_OK(with(*fresh).status());
  // The root keys are stored wrapped: no MetaStore record holds one in the clear.
  auto r2 = keys_->Get("r2");
  ASSERT_TRUE(r2.ok());
  const std::string secret(r2->secret.begin(), r2->secret.end());
  int records = 0;
  AIFS_ASSERT_OK(engine().store().meta->Scan("", "\xff", [&](std::string_view k, std::string_view v) {
    ++records;
    EXPECT_EQ(v.find(secret), std::string_view::npos) << "root key in " << k;
    EXPECT_EQ(v.find(HexEncode(r2->secret)), std::string_view::npos) << "root key hex in " << k;
    return true;
  }));
  EXPECT_GT(records, 0);
}

}  // namespace
// Token administration through the Admin RPCs, on a running server: one
// token revoked (its copies too, the rest of its root key unaffected, and
// for good), tokens minted remotely never reaching past the caller's own,
// and root keys rotated and revoked without stopping the server.
TEST_F(TokenTest, AdminRpcsRevokeTokensAndRootKeysOnARunningServer) {
  StartServer();
  auto with = [&](const std::string& t) { return ConnectRemote({.target = target_, .token = t}); };
  auto victim = remote_->MintToken({"ops = get,list"});
  ASSERT_TRUE(victim.ok()) << victim.status().ToString();
  auto copy = auth::AttenuateToken(*victim, {"ns = alpha"});
  ASSERT_TRUE(copy.ok());
  auto bystander = remote_->MintToken({"ops = get,list"});
  ASSERT_TRUE(bystander.ok());
  AIFS_EXPECT_OK(with(*victim).status());
  AIFS_EXPECT_OK(with(*copy).status());

  AIFS_ASSERT_OK(remote_->RevokeToken(*victim));
  AIFS_EXPECT_STATUS(with(*victim).status(), kUnauthenticated, "TOKEN_REVOKED");
  AIFS_EXPECT_STATUS(with(*copy).status(), kUnauthenticated, "TOKEN_REVOKED");
  AIFS_EXPECT_OK(with(*bystander).status());
  AIFS_ASSERT_OK(remote_->RevokeToken(*victim));  // twice is fine
  AIFS_EXPECT_STATUS(remote_->RevokeToken("not-a-token"), kInvalidArgument, "BAD_TOKEN_ID");
  // A forged token naming the revoked ID learns nothing about it.
  auto forged = auth::Macaroon::Mint(auth::kTokenLocation, Bytes(32, 7),
                                     auth::Macaroon::Parse(*victim)->identifier());
  ASSERT_TRUE(forged.ok());
  AIFS_EXPECT_STATUS(with(forged->Serialize()).status(), kUnauthenticated, "BAD_SIGNATURE");
  const std::string victim_id =
      auth::ParseTokenIdentifier(auth::Macaroon::Parse(*victim)->identifier())->token_id;
  auto ring = remote_->ListTokenKeys();
  ASSERT_TRUE(ring.ok()) << ring.status().ToString();
  ASSERT_EQ(ring->revoked_tokens.size(), 1u);
  EXPECT_EQ(ring->revoked_tokens[0].token_id, victim_id);

  // A remotely minted token carries the caller's caveats: a namespace admin
  // cannot mint its way into another namespace or past its expiry.
  auto ns_admin = remote_->MintToken({"ns = alpha", "ops = admin,list"});
  ASSERT_TRUE(ns_admin.ok());
  auto as_ns_admin = with(*ns_admin);
  ASSERT_TRUE(as_ns_admin.ok());
  AIFS_EXPECT_STATUS((*as_ns_admin)->MintToken({}).status(), kPermissionDenied, "WRONG_NAMESPACE");
  auto no_ops = remote_->MintToken({"ops = list"});
  ASSERT_TRUE(no_ops.ok());
  AIFS_EXPECT_STATUS((*with(*no_ops))->MintToken({}).status(), kPermissionDenied,
                     "OPERATION_NOT_ALLOWED");
  auto expiring_admin = remote_->MintToken({"expires < 2099-01-01T00:00:00Z"});
  ASSERT_TRUE(expiring_admin.ok());
  auto child = (*with(*expiring_admin))->MintToken({"ops = get"});
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  const auto caveats = auth::Macaroon::Parse(*child)->caveats();
  EXPECT_EQ(caveats, (std::vector<std::string>{"ops = get", "expires < 2099-01-01T00:00:00Z"}));
  AIFS_EXPECT_STATUS(remote_->MintToken({"colour = blue"}).status(), kInvalidArgument,
                     "BAD_CAVEAT");

  // Root keys: rotate, then revoke the old one, all remotely.
  auto rotated = remote_->RotateTokenRoot({});
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_EQ(rotated->key_id, "r2");
  AIFS_ASSERT_OK(remote_->RevokeTokenRoot("r1"));
  AIFS_EXPECT_STATUS(with(token_).status(), kUnauthenticated, "KEY_REVOKED");
  auto fresh = with(rotated->token);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  AIFS_EXPECT_STATUS((*fresh)->RevokeTokenRoot("r2"), kFailedPrecondition, "LAST_ROOT_KEY");
  AIFS_EXPECT_STATUS((*fresh)->RevokeTokenRoot("r9"), kNotFound, "UNKNOWN_KEY");
  ring = (*fresh)->ListTokenKeys();
  ASSERT_TRUE(ring.ok());
  ASSERT_EQ(ring->keys.size(), 2u);
  EXPECT_TRUE(ring->keys[0].revoked);
  EXPECT_TRUE(ring->keys[1].current);

  // Revocations are records, not memory: they hold after a restart.
  server_->Shutdown(std::chrono::milliseconds(100));
  server_.reset();
  remote_.reset();
  Reopen();
  auto still = engine().tokens().revocations().IsRevoked(victim_id);
  ASSERT_TRUE(still.ok());
  EXPECT_TRUE(*still);
  auth::Access access;
  access.op = auth::kOpGet;
  access.scope = auth::Access::Scope::kNamespace;
  access.ns = "alpha";
  AIFS_EXPECT_STATUS(engine().tokens().Verify(*bystander, access).status(), kUnauthenticated,
                     "KEY_REVOKED");
  AIFS_EXPECT_OK(engine().tokens().Verify(rotated->token, access).status());
}

}  // namespace aifs::test
