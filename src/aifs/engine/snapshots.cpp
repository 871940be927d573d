#include "aifs/engine/snapshots.h"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <unordered_set>

#include "aifs/core/clock.h"
#include "aifs/engine/events.h"
#include "aifs/engine/mst_store.h"
#include "aifs/engine/namespace_record.h"
#include "aifs/engine/publish.h"
#include "aifs/engine/records_view.h"
#include "aifs/engine/retention.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/snapshot/mst.h"
#include "aifs/snapshot/snapshot_format.h"

namespace aifs {

using store::v1::BranchMove;
using store::v1::BranchRecord;
using store::v1::NamespaceRecord;
using store::v1::SnapshotCursor;
using store::v1::SnapshotHead;
using store::v1::SnapshotRecord;
using store::v1::TagDeletion;
using store::v1::TagRecord;

namespace {

// Strict lowercase hex of exactly 32 bytes (the ID in a keys::Change key, the
// hash in a keys::MstNode key), 16 characters at a time. HexDecode branches on
// every digit, and on random IDs those branches mispredict about half the
// time, which made parsing the change log the largest cost of a cold snapshot.
bool ParseDigestHex(std::string_view hex, Digest& out) {
  using Bytes16 = uint8_t __attribute__((vector_size(16)));
  using Pairs8 = uint16_t __attribute__((vector_size(16)));
  using Bytes8 = uint8_t __attribute__((vector_size(8)));
  static_assert(std::endian::native == std::endian::little);
  if (hex.size() != 2 * out.size()) return false;
  Bytes16 bad{};
  for (size_t i = 0; i < out.size() / 8; ++i) {
    Bytes16 c;
    std::memcpy(&c, hex.data() + 16 * i, 16);
    const Bytes16 digit = (c >= '0') & (c <= '9');  // all ones where true
    const Bytes16 letter = (c >= 'a') & (c <= 'f');
    bad |= ~(digit | letter);
    const Bytes16 nibble = (c & 0x0f) + (letter & 9);
    Pairs8 pair;  // little-endian: the first character of a pair is the low byte
    std::memcpy(&pair, &nibble, 16);
    const Bytes8 bytes = __builtin_convertvector((pair & 0xff) << 4 | pair >> 8, Bytes8);
    std::memcpy(out.data() + 8 * i, &bytes, 8);
  }
  uint64_t any[2];
  std::memcpy(any, &bad, 16);
  return (any[0] | any[1]) == 0;
}

Digest ToDigest(const std::string& bytes) { return FixedBytes<32>(bytes); }

SnapshotId ToSnapshotId(const std::string& bytes) {
  return SnapshotId(FixedBytes<SnapshotId::kSize>(bytes));
}

std::string Raw(ByteSpan b) { return std::string(AsChars(b)); }

SnapshotInfo FromRecord(const SnapshotRecord& r) {
  SnapshotInfo s;
  s.version = static_cast<uint8_t>(std::max<uint32_t>(r.version(), 1));
  s.ns = r.ns();
  s.id = ToSnapshotId(r.id());
  s.root = ToDigest(r.root());
  s.height = static_cast<uint8_t>(r.height());
  s.count = r.count();
  s.created_unix_ns = r.created_unix_ns();
  s.signature = FixedBytes<64>(r.signature());
  s.public_key = FixedBytes<32>(r.public_key());
  s.explicit_set = r.explicit_set();
  if (s.version >= 2) {
    s.path_root = ToDigest(r.path_root());
    s.path_height = static_cast<uint8_t>(r.path_height());
    s.path_count = r.path_count();
  } else {
    s.path_root = MstEmptyRootHash();
  }
  s.message = r.message();
  s.author = r.author();
  for (const std::string& p : r.parents()) s.parents.push_back(ToSnapshotId(p));
  return s;
}

SnapshotRecord ToRecord(const SnapshotInfo& s) {
  SnapshotRecord r;
  r.set_id(Raw(s.id.bytes()));
  r.set_ns(s.ns);
  r.set_root(Raw(s.root));
  r.set_height(s.height);
  r.set_count(s.count);
  r.set_created_unix_ns(s.created_unix_ns);
  r.set_signature(Raw(s.signature));
  r.set_public_key(Raw(s.public_key));
  r.set_explicit_set(s.explicit_set);
  if (s.version >= 2) {
    r.set_version(s.version);
    r.set_path_root(Raw(s.path_root));
    r.set_path_height(s.path_height);
    r.set_path_count(s.path_count);
    r.set_message(s.message);
    r.set_author(s.author);
    for (const SnapshotId& p : s.parents) r.add_parents(Raw(p.bytes()));
  }
  return r;
}

// The head trees (and the snapshot that made them) the next snapshot starts from.
struct Head {
  MstRoot assets = MstEmptyRoot();
  MstRoot paths = MstEmptyRoot();
  std::optional<SnapshotId> snapshot;
};

Result<Head> ParseHead(const std::optional<std::string>& bytes) {
  Head head;
  if (!bytes) return head;
  SnapshotHead h;
  AIFS_RETURN_IF_ERROR(ParseRecord(*bytes, h, "snapshot head"));
  head.assets = {ToDigest(h.root()), static_cast<uint8_t>(h.height()), h.count()};
  if (!h.path_root().empty())
    head.paths = {ToDigest(h.path_root()), static_cast<uint8_t>(h.path_height()), h.path_count()};
  if (!h.snapshot().empty()) head.snapshot = ToSnapshotId(h.snapshot());
  return head;
}

// The path tree of the next snapshot: `head` with the path log of
// `generation` applied (the log's keys are in tree-key order). `prefix` gets
// the log's prefix, for dropping it once the snapshot commits.
Result<MstRoot> ApplyPathLog(MetaStore& meta, const std::string& ns, uint64_t generation,
                             const MstRoot& head, MstNodeStore& store, std::string& prefix) {
  prefix = keys::PathChangePrefix(ns, generation);
  std::vector<MstMapChange> changes;
  Status parse;
  AIFS_RETURN_IF_ERROR(
      meta.ScanBulk(prefix, PrefixEnd(prefix), [&](std::string_view key, std::string_view value) {
        MstMapChange c;
        if (!ParseDigestHex(key.substr(prefix.size()), c.key) ||
            (value != "-" && value.size() != c.key.size())) {
          parse = err::DataLoss("METADATA_CORRUPT", "bad path log entry");
          return false;
        }
        if (value != "-") c.value = FixedBytes<32>(value);
        changes.push_back(c);
        return true;
      }));
  AIFS_RETURN_IF_ERROR(parse);
  if (changes.empty()) return head;
  if (!(head == MstEmptyRoot())) return UpdateMstMap(head, changes, store);
  MstBuilder builder(store, /*valued=*/true);
  for (const MstMapChange& c : changes)
    if (c.value) AIFS_RETURN_IF_ERROR(builder.AddEntry(c.key, *c.value));
  return builder.Finish();
}

// Snapshot messages and authors are signed and shown, not documents.
constexpr size_t kMaxMessageBytes = size_t{64} << 10;
constexpr size_t kMaxAuthorBytes = 1024;

Status CheckTexts(const SnapshotOptions& options) {
  if (options.message.size() > kMaxMessageBytes || options.author.size() > kMaxAuthorBytes)
    return err::InvalidArgument("MESSAGE_TOO_LONG",
                                "a snapshot message is at most 64 KiB, an author 1 KiB");
  return Status::Ok();
}

BranchInfo FromBranch(const BranchRecord& r) {
  return {r.name(), ToSnapshotId(r.snapshot()), r.updated_unix_ns(), r.updated_by(), r.moves()};
}

TagInfo FromTag(const TagRecord& r) {
  return {r.name(), ToSnapshotId(r.snapshot()), r.created_unix_ns(), r.created_by()};
}

template <typename Record, typename Info>
Result<std::vector<Info>> ScanRecords(MetaStore& meta, const std::string& prefix,
                                      Info (*convert)(const Record&), const char* what) {
  std::vector<Info> out;
  Status parse;
  AIFS_RETURN_IF_ERROR(meta.Scan(prefix, PrefixEnd(prefix), [&](std::string_view,
                                                                std::string_view value) {
    Record rec;
    parse = ParseRecord(value, rec, what);
    if (parse.ok()) out.push_back(convert(rec));
    return parse.ok();
  }));
  AIFS_RETURN_IF_ERROR(parse);
  return out;
}

// VerifySnapshotSignature, remembering successes: a search as of a snapshot
// resolves it every time. Verification is deterministic (same message,
// signature and key, same answer), so a success is remembered by their hash:
// any changed byte of the record or key misses and is verified again.
Status VerifySignatureOnce(const SnapshotInfo& s, const Ed25519PublicKey& key) {
  static std::mutex mu;
  static std::unordered_set<Digest, DigestHash> verified;
  Blake3 h;
  h.Update(SnapshotSigningMessage(s));
  h.Update(s.signature);
  h.Update(key);
  const Digest seen = h.Finalize();
  {
    std::lock_guard lock(mu);
    if (verified.count(seen)) return Status::Ok();
  }
  AIFS_RETURN_IF_ERROR(VerifySnapshotSignature(s, key));
  std::lock_guard lock(mu);
  if (verified.size() >= 4096) verified.clear();
  verified.insert(seen);
  return Status::Ok();
}

}  // namespace

MstRoot AssetTreeOf(const SnapshotInfo& s) { return {s.root, s.height, s.count}; }
MstRoot PathTreeOf(const SnapshotInfo& s) { return {s.path_root, s.path_height, s.path_count}; }
std::optional<AssetId> AssetIdOf(const std::optional<Digest>& value) {
  return value ? std::optional<AssetId>(AssetId(*value)) : std::nullopt;
}

Status ValidateRefName(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return err::InvalidArgument("INVALID_REF_NAME", "'" + err::Echo(name) + "' " + why);
  };
  if (name.empty() || name.size() > 128) return bad("must be 1-128 characters");
  if (name[0] == '.' || name[0] == '-') return bad("must not start with '.' or '-'");
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
      return bad("may contain only [A-Za-z0-9._-]");
  if (SnapshotId::Parse(name).ok()) return bad("would read as a snapshot ID");
  return Status::Ok();
}

Result<SnapshotInfo> SnapshotManager::Sign(const std::string& ns, const MstRoot& assets,
                                           const MstRoot& paths, bool explicit_set,
                                           const SnapshotOptions& options,
                                           std::vector<SnapshotId> parents) {
  AIFS_ASSIGN_OR_RETURN(auto ns_rec,
                        LoadRecord<NamespaceRecord>(*ctx_.meta, keys::Namespace(ns),
                                                    "NAMESPACE_NOT_FOUND", "namespace '" + ns + "'"));
  AIFS_ASSIGN_OR_RETURN(SigningKey key,
                        SigningKey::Unwrap(*ctx_.kms, ns_rec.signing_kms_key_id(),
                                           AsBytes(ns_rec.signing_seed_wrapped()),
                                           NamespaceKeyContext(ns)));
  SnapshotInfo s;
  s.ns = ns;
  s.root = assets.hash;
  s.height = assets.height;
  s.count = assets.count;
  s.path_root = paths.hash;
  s.path_height = paths.height;
  s.path_count = paths.count;
  s.message = options.message;
  s.author = options.author;
  s.parents = std::move(parents);
  s.created_unix_ns = NowUnixNanos();
  s.id = ComputeSnapshotId(s);
  s.public_key = key.public_key();
  s.explicit_set = explicit_set;
  s.signature = key.Sign(SnapshotSigningMessage(s));
  return s;
}

Result<SnapshotInfo> SnapshotManager::Create(const std::string& ns,
                                             const SnapshotOptions& options) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_RETURN_IF_ERROR(CheckTexts(options));
  if (options.ids && !options.branch.empty())
    return err::InvalidArgument("BRANCH_WITH_EXPLICIT_SET",
                                "a snapshot of a given set is not committed to a branch");
  // A snapshot committed to a branch follows the branch's target.
  std::optional<SnapshotId> branch_target;
  if (!options.branch.empty()) {
    AIFS_RETURN_IF_ERROR(ValidateRefName(options.branch));
    AIFS_ASSIGN_OR_RETURN(auto b, ctx_.meta->Get(keys::Branch(ns, options.branch)));
    if (b) {
      BranchRecord rec;
      AIFS_RETURN_IF_ERROR(ParseRecord(*b, rec, "branch"));
      branch_target = ToSnapshotId(rec.snapshot());
    }
  }
  if (const std::vector<AssetId>* ids = options.ids) {
    std::vector<Digest> sorted;
    for (const AssetId& id : *ids) {
      AIFS_ASSIGN_OR_RETURN(auto rec, ctx_.meta->Get(keys::Asset(ns, id.bytes())));
      if (!rec)
        return err::NotFound("ASSET_NOT_FOUND",
                             "asset " + id.ToHex() + " is not in namespace '" + ns + "'");
      sorted.push_back(id.bytes());
    }
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    AIFS_ASSIGN_OR_RETURN(auto turn, TakeTurn(ns));
    SnapshotInfo s;
    AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
      // Read again in the transaction: an asset removed before the commit
      // makes it conflict, so gc never releases what this snapshot holds.
      for (const Digest& id : sorted) {
        AIFS_ASSIGN_OR_RETURN(auto rec, txn.Get(keys::Asset(ns, id)));
        if (!rec)
          return err::NotFound("ASSET_NOT_FOUND",
                               "asset " + HexEncode(id) + " is not in namespace '" + ns + "'");
      }
      MetaMstStore store(*ctx_.meta, ns, &txn, MetaMstStore::Mode::kInTxn);
      AIFS_ASSIGN_OR_RETURN(MstRoot root, BuildMst(sorted, store));
      AIFS_ASSIGN_OR_RETURN(s, Sign(ns, root, MstEmptyRoot(), true, options, {}));
      EmitEvent(txn, {.type = EventType::kSnapshotCreated, .ns = ns, .snapshot = s.id});
      return PutRecord(txn, keys::Snapshot(ns, s.id.ToHex()), ToRecord(s));
    }));
    return s;
  }

  AIFS_ASSIGN_OR_RETURN(auto turn, TakeTurn(ns));
  // The namespace's own snapshot: head tree + the closed generations of the
  // change logs (SnapshotCursor). First the current generation is closed:
  // a short transaction on the namespace record, which every commit that
  // logs a change reads, so each change lands in a generation either before
  // the close (this snapshot has it) or after (the next one has it).
  SnapshotCursor cursor;
  AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
    AIFS_ASSIGN_OR_RETURN(auto ns_rec,
                          LoadRecord<NamespaceRecord>(txn, keys::Namespace(ns), "namespace"));
    if (!ns_rec) return NamespaceNotFound(ns);
    const uint64_t generation = ns_rec->change_generation();
    AIFS_ASSIGN_OR_RETURN(
        auto found, LoadRecord<SnapshotCursor>(txn, keys::SnapshotCursor(ns), "snapshot cursor"));
    cursor = found ? *found : SnapshotCursor();
    if (!found) cursor.set_next_generation(generation);
    cursor.set_building(true);
    cursor.set_closing(generation);
    ns_rec->set_change_generation(generation + 1);
    AIFS_RETURN_IF_ERROR(PutNamespaceRecord(txn, *ns_rec));
    return PutRecord(txn, keys::SnapshotCursor(ns), cursor);
  }));
  // Then the trees are built from the closed generations, which no commit
  // changes any more; the commit reads only the head and the cursor (written
  // by snapshot creators alone, who take turns), so puts go on meanwhile.
  const uint64_t first = cursor.next_generation(), last_gen = cursor.closing();
  Status last;
  for (int attempt = 0; attempt < 32; ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(std::chrono::microseconds(100 << std::min(attempt, 7)));
    auto txn = ctx_.meta->Begin();
    std::vector<std::string> consumed;  // log prefixes to drop after the commit
    auto made = [&]() -> Result<SnapshotInfo> {
      AIFS_ASSIGN_OR_RETURN(
          auto now, LoadRecord<SnapshotCursor>(*txn, keys::SnapshotCursor(ns), "snapshot cursor"));
      if (!now || now->next_generation() != first || now->closing() != last_gen)
        return err::Aborted("TXN_CONFLICT", "the snapshot cursor moved");
      AIFS_ASSIGN_OR_RETURN(auto head_bytes, txn->Get(keys::SnapshotHead(ns)));
      AIFS_ASSIGN_OR_RETURN(const Head last, ParseHead(head_bytes));
      const MstRoot head = last.assets;
      // The first attempt writes new nodes ahead of the transaction (see
      // MetaMstStore). Those writes go through the memtable while the
      // transaction is open, and a big cold build can fill it: if it is
      // flushed before the commit, RocksDB can no longer validate the
      // transaction's reads and fails it (as a conflict). So retries keep the
      // nodes in the transaction, as they do after a real conflict.
      MetaMstStore store(*ctx_.meta, ns, txn.get(),
                         attempt == 0 ? MetaMstStore::Mode::kBefore : MetaMstStore::Mode::kInTxn,
                         &node_cache_);
      // The log's keys are in ID order (hex preserves byte order), the order
      // UpdateMst and MstBuilder want. With no head yet and one generation
      // (the first snapshot), only the adds matter: the tree is built from
      // them as the scan goes (the same tree, as the root depends only on the
      // set), without holding the IDs or merging them into an empty tree.
      const bool cold = head == MstEmptyRoot() && first == last_gen;
      MstRoot root = head;
      MstRoot paths = last.paths;
      for (uint64_t generation = first; generation <= last_gen; ++generation) {
        std::vector<MstChange> changes;
        MstBuilder builder(store);
        const std::string prefix = keys::ChangePrefix(ns, generation);
        Status parse;
        AIFS_RETURN_IF_ERROR(ctx_.meta->ScanBulk(
            prefix, PrefixEnd(prefix), [&](std::string_view key, std::string_view value) {
              Digest id;
              if (!ParseDigestHex(key.substr(prefix.size()), id)) {
                parse = err::DataLoss("METADATA_CORRUPT", "bad change log key");
                return false;
              }
              const bool add = value == "+";
              if (!cold) {
                changes.emplace_back(id, add);
              } else if (add) {
                parse = builder.Add(id);
                if (!parse.ok()) return false;
              }
              return true;
            }));
        AIFS_RETURN_IF_ERROR(parse);
        if (builder.count() > 0) {
          AIFS_ASSIGN_OR_RETURN(root, builder.Finish());
        } else if (!changes.empty()) {
          AIFS_ASSIGN_OR_RETURN(root, UpdateMst(root, changes, store));
        }
        std::string path_prefix;
        AIFS_ASSIGN_OR_RETURN(paths,
                              ApplyPathLog(*ctx_.meta, ns, generation, paths, store, path_prefix));
        consumed.push_back(prefix);
        consumed.push_back(path_prefix);
      }
      AIFS_RETURN_IF_ERROR(store.Finish());
      std::vector<SnapshotId> parents;
      if (branch_target)
        parents.push_back(*branch_target);
      else if (last.snapshot)
        parents.push_back(*last.snapshot);
      AIFS_ASSIGN_OR_RETURN(SnapshotInfo s,
                            Sign(ns, root, paths, false, options, std::move(parents)));
      AIFS_RETURN_IF_ERROR(PutRecord(*txn, keys::Snapshot(ns, s.id.ToHex()), ToRecord(s)));
      SnapshotHead h;
      h.set_root(Raw(root.hash));
      h.set_height(root.height);
      h.set_count(root.count);
      h.set_path_root(Raw(paths.hash));
      h.set_path_height(paths.height);
      h.set_path_count(paths.count);
      h.set_snapshot(Raw(s.id.bytes()));
      AIFS_RETURN_IF_ERROR(PutRecord(*txn, keys::SnapshotHead(ns), h));
      SnapshotCursor done;
      done.set_next_generation(last_gen + 1);
      AIFS_RETURN_IF_ERROR(PutRecord(*txn, keys::SnapshotCursor(ns), done));
      EmitEvent(*txn, {.type = EventType::kSnapshotCreated, .ns = ns, .snapshot = s.id});
      AIFS_RETURN_IF_ERROR(txn->Commit());
      store.CacheStored();
      return s;
    }();
    if (made.ok()) {
      // The consumed generations are dead: one range delete each drops them,
      // off the caller's time (on PostgreSQL, deleting the 100k rows of a
      // first snapshot costs a fifth of it). A crash before, or a failure,
      // only leaves keys nobody reads.
      ctx_.pool->Post([meta = ctx_.meta.get(), consumed = std::move(consumed)] {
        for (const std::string& prefix : consumed)
          (void)meta->DeleteRange(prefix, PrefixEnd(prefix));
      });
      if (branch_target) {
        AIFS_RETURN_IF_ERROR(
            MoveBranch(ns, options.branch, *branch_target, made->id.ToHex(), options.author)
                .status());
      } else if (!options.branch.empty()) {
        AIFS_RETURN_IF_ERROR(
            CreateBranch(ns, options.branch, made->id.ToHex(), options.author).status());
      }
      return made;
    }
    last = made.status();
    if (last.reason() != "TXN_CONFLICT") return last;
  }
  return last;
}

Result<std::unique_ptr<MetaLock>> SnapshotManager::TakeTurn(const std::string& ns) {
  return ctx_.meta->Lock("snapshots/" + ns, kTurnWait);
}

Result<SnapshotInfo> SnapshotManager::Record(const std::string& ns, const MstRoot& assets,
                                             const MstRoot& paths, const SnapshotOptions& options,
                                             std::vector<SnapshotId> parents) {
  AIFS_RETURN_IF_ERROR(CheckTexts(options));
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo s,
                        Sign(ns, assets, paths, false, options, std::move(parents)));
  AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
    EmitEvent(txn, {.type = EventType::kSnapshotCreated, .ns = ns, .snapshot = s.id});
    return PutRecord(txn, keys::Snapshot(ns, s.id.ToHex()), ToRecord(s));
  }));
  return s;
}

Result<SnapshotInfo> SnapshotManager::LoadSnapshot(const std::string& ns, const SnapshotId& id) {
  AIFS_ASSIGN_OR_RETURN(auto rec, LoadRecord<SnapshotRecord>(
                                      *ctx_.meta, keys::Snapshot(ns, id.ToHex()),
                                      "SNAPSHOT_NOT_FOUND",
                                      "snapshot " + id.ToHex() + " in namespace '" + ns + "'"));
  return FromRecord(rec);
}

Result<SnapshotInfo> SnapshotManager::Resolve(const std::string& ns, const std::string& ref) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  SnapshotId id;
  if (auto parsed = SnapshotId::Parse(ref); parsed.ok()) {
    id = *parsed;
  } else {
    AIFS_RETURN_IF_ERROR(ValidateRefName(ref));
    AIFS_ASSIGN_OR_RETURN(auto branch, ctx_.meta->Get(keys::Branch(ns, ref)));
    if (branch) {
      BranchRecord b;
      AIFS_RETURN_IF_ERROR(ParseRecord(*branch, b, "branch"));
      id = ToSnapshotId(b.snapshot());
    } else {
      AIFS_ASSIGN_OR_RETURN(auto tag, ctx_.meta->Get(keys::Tag(ns, ref)));
      if (!tag)
        return err::NotFound("REF_NOT_FOUND", "no snapshot, branch or tag '" + ref +
                                                  "' in namespace '" + ns + "'");
      TagRecord t;
      AIFS_RETURN_IF_ERROR(ParseRecord(*tag, t, "tag"));
      id = ToSnapshotId(t.snapshot());
    }
  }
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, LoadSnapshot(ns, id));
  AIFS_ASSIGN_OR_RETURN(auto ns_rec,
                        LoadRecord<NamespaceRecord>(*ctx_.meta, keys::Namespace(ns),
                                                    "NAMESPACE_NOT_FOUND", "namespace '" + ns + "'"));
  const Ed25519PublicKey key = FixedBytes<32>(ns_rec.signing_public_key());
  AIFS_RETURN_IF_ERROR(VerifySignatureOnce(s, key));
  return s;
}

Result<SnapshotInfo> SnapshotManager::Get(const std::string& ns, const std::string& ref) {
  return Resolve(ns, ref);
}

Result<std::vector<SnapshotInfo>> SnapshotManager::List(const std::string& ns) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_ASSIGN_OR_RETURN(auto list, (ScanRecords<SnapshotRecord, SnapshotInfo>(
                                       *ctx_.meta, keys::SnapshotPrefix(ns), &FromRecord,
                                       "snapshot")));
  std::sort(list.begin(), list.end(), [](const SnapshotInfo& a, const SnapshotInfo& b) {
    return a.created_unix_ns < b.created_unix_ns;
  });
  return list;
}

Status SnapshotManager::Verify(const std::string& ns, const std::string& ref) {
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, Resolve(ns, ref));
  MetaMstStore store(*ctx_.meta, ns);
  AIFS_RETURN_IF_ERROR(VerifyMst(AssetTreeOf(s), store));
  return VerifyMst(PathTreeOf(s), store, /*valued=*/true);
}

Result<SnapshotProof> SnapshotManager::Prove(const std::string& ns, const std::string& ref,
                                             const AssetId& id) {
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, Resolve(ns, ref));
  MetaMstStore store(*ctx_.meta, ns, nullptr, MetaMstStore::Mode::kReadOnly, &node_cache_);
  AIFS_ASSIGN_OR_RETURN(auto path, ProveInclusion(AssetTreeOf(s), id.bytes(), store));
  SnapshotProof proof{s, id, {}, std::nullopt};
  for (const MstNode& n : path) proof.nodes.push_back(n.Encode());
  return proof;
}

Result<SnapshotProof> SnapshotManager::ProvePath(const std::string& ns, const std::string& ref,
                                                 const std::string& path) {
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, Resolve(ns, ref));
  MetaMstStore store(*ctx_.meta, ns, nullptr, MetaMstStore::Mode::kReadOnly, &node_cache_);
  const Digest key = PathTreeKey(path);
  auto nodes = ProveInclusion(PathTreeOf(s), key, store);
  if (!nodes.ok() && nodes.status().code() == Code::kNotFound)
    return err::NotFound("PATH_NOT_IN_SNAPSHOT",
                         "path '" + err::Echo(path) + "' is not in snapshot " + s.id.ToHex());
  AIFS_RETURN_IF_ERROR(nodes.status());
  const MstNode& leaf = nodes->back();  // holds `key` (ProveInclusion found it)
  auto at = std::lower_bound(leaf.entries.begin(), leaf.entries.end(), key,
                             [](const MstEntry& e, const Digest& k) { return e.key < k; });
  SnapshotProof proof{s, AssetId(at->hash), {}, path};
  for (const MstNode& n : *nodes) proof.nodes.push_back(n.Encode());
  return proof;
}

Result<std::optional<AssetId>> SnapshotManager::PathAt(const std::string& ns,
                                                       const std::string& ref,
                                                       const std::string& path) {
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, Resolve(ns, ref));
  MetaMstStore store(*ctx_.meta, ns, nullptr, MetaMstStore::Mode::kReadOnly, &node_cache_);
  auto value = MstLookup(PathTreeOf(s), PathTreeKey(path), store);
  if (!value.ok() && value.status().reason() == "MST_KEY_NOT_FOUND")
    return std::optional<AssetId>();
  AIFS_RETURN_IF_ERROR(value.status());
  return std::optional<AssetId>(AssetId(*value));
}

Result<std::vector<PathEntry>> SnapshotManager::PathsAt(const std::string& ns,
                                                        const std::string& ref,
                                                        const std::string& prefix) {
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, Resolve(ns, ref));
  MetaMstStore store(*ctx_.meta, ns, nullptr, MetaMstStore::Mode::kReadOnly, &node_cache_);
  std::vector<PathEntry> out;
  Status name;
  AIFS_RETURN_IF_ERROR(ForEachEntry(PathTreeOf(s), store, [&](const MstEntry& e) {
    auto path = PathNameOf(ns, e.key);
    if (!path.ok()) {
      name = path.status();
      return false;
    }
    if (path->starts_with(prefix)) out.push_back({std::move(*path), AssetId(e.hash)});
    return true;
  }));
  AIFS_RETURN_IF_ERROR(name);
  std::sort(out.begin(), out.end(),
            [](const PathEntry& a, const PathEntry& b) { return a.path < b.path; });
  return out;
}

Result<std::string> SnapshotManager::PathNameOf(const std::string& ns, const Digest& key) {
  AIFS_ASSIGN_OR_RETURN(auto path, ctx_.meta->Get(keys::PathName(ns, key)));
  if (!path || PathTreeKey(*path) != key)
    return err::DataLoss("PATH_NAME_MISSING", "the name of path key " + HexEncode(key) +
                                                  " in namespace '" + ns + "' is " +
                                                  (path ? "corrupt" : "missing"));
  return *path;
}

Result<PruneReport> SnapshotManager::Prune(const std::string& ns, const PruneOptions& options) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_ASSIGN_OR_RETURN(auto turn, TakeTurn(ns));
  AIFS_ASSIGN_OR_RETURN(auto ns_rec, LoadRecord<NamespaceRecord>(*ctx_.meta, keys::Namespace(ns),
                                                                 "NAMESPACE_NOT_FOUND",
                                                                 "namespace '" + ns + "'"));
  AIFS_ASSIGN_OR_RETURN(const RetentionPolicy policy,
                        EffectiveRetention(ToNamespaceInfo(ns_rec).policy, options));

  // Snapshots a branch or tag names are never pruned.
  std::map<SnapshotId, std::vector<std::string>> pins;
  AIFS_ASSIGN_OR_RETURN(auto branches, ListBranches(ns));
  for (const BranchInfo& b : branches) pins[b.snapshot].push_back("branch " + b.name);
  AIFS_ASSIGN_OR_RETURN(auto tags, ListTags(ns));
  for (const TagInfo& t : tags) pins[t.snapshot].push_back("tag " + t.name);
  AIFS_ASSIGN_OR_RETURN(auto all, List(ns));
  std::vector<RetentionCandidate> candidates;
  std::map<SnapshotId, std::pair<MstRoot, MstRoot>> roots;  // assets, paths
  for (const SnapshotInfo& s : all) {
    candidates.push_back({s.id, s.created_unix_ns, pins[s.id]});
    roots[s.id] = {AssetTreeOf(s), PathTreeOf(s)};
  }

  PruneReport report;
  report.dry_run = options.dry_run;
  report.decisions = PlanRetention(std::move(candidates), policy, NowUnixNanos());
  std::vector<MstRoot> live_roots;
  for (const RetentionDecision& d : report.decisions) {
    if (d.keep) {
      ++report.kept;
      live_roots.push_back(roots[d.snapshot].first);
      live_roots.push_back(roots[d.snapshot].second);
    } else {
      report.removed.push_back(d.snapshot);
    }
  }
  // The head tree is where the next snapshot starts from.
  AIFS_ASSIGN_OR_RETURN(auto head_bytes, ctx_.meta->Get(keys::SnapshotHead(ns)));
  AIFS_ASSIGN_OR_RETURN(const Head head, ParseHead(head_bytes));
  live_roots.push_back(head.assets);
  live_roots.push_back(head.paths);

  // Mark every node a remaining tree uses (shared subtrees once), then sweep.
  MetaMstStore store(*ctx_.meta, ns, nullptr, MetaMstStore::Mode::kReadOnly, &node_cache_);
  std::unordered_set<Digest, DigestHash> live;
  std::vector<Digest> stack;
  for (const MstRoot& r : live_roots)
    if (r.count > 0) stack.push_back(r.hash);
  while (!stack.empty()) {
    const Digest hash = stack.back();
    stack.pop_back();
    if (!live.insert(hash).second) continue;
    AIFS_ASSIGN_OR_RETURN(MstNode node, store.Load(hash));
    if (node.level > 0)
      for (const MstEntry& e : node.entries) stack.push_back(e.hash);
  }
  std::vector<std::string> dead;
  const std::string prefix = keys::MstNodePrefix(ns);
  AIFS_RETURN_IF_ERROR(ctx_.meta->ScanBulk(prefix, PrefixEnd(prefix), [&](std::string_view key,
                                                                          std::string_view value) {
    Digest hash;
    if (ParseDigestHex(key.substr(prefix.size()), hash) && live.count(hash)) return true;
    dead.emplace_back(key);
    report.node_bytes_removed += key.size() + value.size();
    return true;
  }));
  report.nodes_removed = dead.size();
  if (options.dry_run) return report;

  // Records first: a crash after this only leaves unused nodes for next time.
  AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
    for (const SnapshotId& id : report.removed)
      AIFS_RETURN_IF_ERROR(txn.Delete(keys::Snapshot(ns, id.ToHex())));
    return Status::Ok();
  }));
  constexpr size_t kBatch = 10000;
  for (size_t i = 0; i < dead.size(); i += kBatch) {
    AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
      for (size_t j = i; j < std::min(dead.size(), i + kBatch); ++j)
        AIFS_RETURN_IF_ERROR(txn.Delete(dead[j]));
      return Status::Ok();
    }));
  }
  node_cache_.Clear();  // a deleted node must not be served from memory
  return report;
}

Result<SnapshotDiff> SnapshotManager::Diff(const std::string& ns, const std::string& a,
                                           const std::string& b) {
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo sa, Resolve(ns, a));
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo sb, Resolve(ns, b));
  MetaMstStore store(*ctx_.meta, ns, nullptr, MetaMstStore::Mode::kReadOnly, &node_cache_);
  std::vector<Digest> added, removed;
  AIFS_RETURN_IF_ERROR(DiffMst(AssetTreeOf(sa), AssetTreeOf(sb), store, added, removed));
  SnapshotDiff diff;
  for (const Digest& d : added) diff.added.emplace_back(d);
  for (const Digest& d : removed) diff.removed.emplace_back(d);
  std::vector<MstMapDiff> paths;
  AIFS_RETURN_IF_ERROR(DiffMstMap(PathTreeOf(sa), PathTreeOf(sb), store, paths));
  for (const MstMapDiff& d : paths) {
    AIFS_ASSIGN_OR_RETURN(std::string path, PathNameOf(ns, d.key));
    diff.paths.push_back({std::move(path), AssetIdOf(d.before), AssetIdOf(d.after)});
  }
  std::sort(diff.paths.begin(), diff.paths.end(),
            [](const PathChange& a, const PathChange& b) { return a.path < b.path; });
  return diff;
}

Result<std::shared_ptr<const AssetSet>> SnapshotManager::Members(const std::string& ns,
                                                                  const std::string& ref) {
  constexpr size_t kKept = 4;
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo s, Resolve(ns, ref));
  const MstRoot root = AssetTreeOf(s);
  {
    std::lock_guard lock(members_mu_);
    for (auto it = members_.begin(); it != members_.end(); ++it) {
      if (it->first != root.hash) continue;
      members_.splice(members_.begin(), members_, it);
      return it->second;
    }
  }
  auto set = std::make_shared<AssetSet>();
  set->reserve(root.count);
  MetaMstStore store(*ctx_.meta, ns, nullptr, MetaMstStore::Mode::kReadOnly, &node_cache_);
  AIFS_RETURN_IF_ERROR(ForEachId(root, store, [&](const Digest& id) {
    set->insert(id);
    return true;
  }));
  std::lock_guard lock(members_mu_);
  members_.emplace_front(root.hash, set);
  if (members_.size() > kKept) members_.pop_back();
  return std::shared_ptr<const AssetSet>(std::move(set));
}

Result<AssetSet> SnapshotManager::RetainedAmong(const std::string& ns, const AssetSet& candidates) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AssetSet retained;
  if (candidates.empty()) return retained;
  AIFS_ASSIGN_OR_RETURN(auto all, List(ns));
  MetaMstStore store(*ctx_.meta, ns);
  // A pruned snapshot retains nothing; a tree missing nodes otherwise is
  // damaged: refuse.
  auto pruned = [&](const SnapshotInfo& s, const Status& st) -> Result<bool> {
    AIFS_ASSIGN_OR_RETURN(auto still, ctx_.meta->Get(keys::Snapshot(ns, s.id.ToHex())));
    if (still) return st;
    return true;
  };
  if (candidates.size() <= kLookupCandidates) {
    // A few (an `rm`): one lookup per snapshot and candidate, O(height) each.
    for (const SnapshotInfo& s : all) {
      for (const Digest& id : candidates) {
        if (s.count == 0 || retained.count(id)) continue;
        auto path = ProveInclusion(AssetTreeOf(s), id, store);
        if (path.ok()) {
          retained.insert(id);
        } else if (path.status().reason() != "ASSET_NOT_IN_SNAPSHOT") {
          AIFS_RETURN_IF_ERROR(pruned(s, path.status()).status());
          break;
        }
      }
    }
    return retained;
  }
  // A node is in `done` once its whole subtree was walked: nodes are content-
  // addressed, so another snapshot sharing it holds exactly what was found.
  std::unordered_set<Digest, DigestHash> done;
  for (const SnapshotInfo& s : all) {
    if (s.count == 0) continue;
    std::unordered_set<Digest, DigestHash> walked;
    std::vector<Digest> found;
    std::vector<Digest> stack{s.root};
    Status st;
    while (!stack.empty() && st.ok()) {
      const Digest hash = stack.back();
      stack.pop_back();
      if (done.count(hash) || !walked.insert(hash).second) continue;
      auto node = store.Load(hash);
      if (!node.ok()) {
        st = node.status();
        break;
      }
      for (const MstEntry& e : node->entries) {
        if (node->level > 0)
          stack.push_back(e.hash);
        else if (candidates.count(e.key))
          found.push_back(e.key);
      }
    }
    if (!st.ok()) {
      AIFS_RETURN_IF_ERROR(pruned(s, st).status());
      continue;
    }
    done.insert(walked.begin(), walked.end());
    retained.insert(found.begin(), found.end());
  }
  return retained;
}

Result<BranchInfo> SnapshotManager::WriteBranch(const std::string& ns, const std::string& name,
                                                const std::optional<SnapshotId>& expected,
                                                bool create, const std::string& ref,
                                                const std::string& who) {
  AIFS_RETURN_IF_ERROR(ValidateRefName(name));
  // The target's signature is checked before the branch can expose it.
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo target, Resolve(ns, ref));
  BranchRecord out;
  AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
    const std::string key = keys::Branch(ns, name);
    AIFS_ASSIGN_OR_RETURN(auto current, LoadRecord<BranchRecord>(txn, key, "branch"));
    if (create && current)
      return err::AlreadyExists("BRANCH_EXISTS", "branch '" + name + "' already exists");
    if (create) {
      AIFS_ASSIGN_OR_RETURN(auto tag, txn.Get(keys::Tag(ns, name)));
      if (tag) return err::AlreadyExists("REF_NAME_TAKEN", "'" + name + "' is already a tag");
    }
    if (!create && !current)
      return err::NotFound("BRANCH_NOT_FOUND", "branch '" + name + "' not found");
    if (!create && ToSnapshotId(current->snapshot()) != *expected)
      return err::Aborted("BRANCH_MOVED", "branch '" + name + "' points at " +
                                              ToSnapshotId(current->snapshot()).ToHex() +
                                              ", not the expected " + expected->ToHex());
    const int64_t now = NowUnixNanos();
    out.set_name(name);
    out.set_snapshot(Raw(target.id.bytes()));
    out.set_updated_unix_ns(now);
    out.set_updated_by(who);
    out.set_moves(current ? current->moves() + 1 : 0);
    BranchMove move;
    if (current) move.set_old_snapshot(current->snapshot());
    move.set_new_snapshot(out.snapshot());
    move.set_unix_ns(now);
    move.set_who(who);
    AIFS_RETURN_IF_ERROR(PutRecord(txn, keys::BranchLogPrefix(ns, name) + keys::SeqKey(static_cast<uint64_t>(now)), move));
    EmitEvent(txn, {.type = EventType::kBranchMoved,
                    .unix_ns = now,
                    .ns = ns,
                    .snapshot = target.id,
                    .old_snapshot = current ? std::optional(ToSnapshotId(current->snapshot()))
                                            : std::nullopt,
                    .name = name,
                    .who = who});
    return PutRecord(txn, key, out);
  }));
  return FromBranch(out);
}

Result<BranchInfo> SnapshotManager::CreateBranch(const std::string& ns, const std::string& name,
                                                 const std::string& ref, const std::string& who) {
  return WriteBranch(ns, name, std::nullopt, true, ref, who);
}

Result<BranchInfo> SnapshotManager::MoveBranch(const std::string& ns, const std::string& name,
                                               const SnapshotId& expected, const std::string& ref,
                                               const std::string& who) {
  return WriteBranch(ns, name, expected, false, ref, who);
}

Status SnapshotManager::DeleteBranch(const std::string& ns, const std::string& name,
                                     const std::string& who) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_RETURN_IF_ERROR(ValidateRefName(name));
  return RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
    const std::string key = keys::Branch(ns, name);
    AIFS_ASSIGN_OR_RETURN(auto current, LoadRecord<BranchRecord>(txn, key, "branch"));
    if (!current) return err::NotFound("BRANCH_NOT_FOUND", "branch '" + name + "' not found");
    BranchMove move;
    move.set_old_snapshot(current->snapshot());
    move.set_unix_ns(NowUnixNanos());
    move.set_who(who);
    AIFS_RETURN_IF_ERROR(PutRecord(
        txn, keys::BranchLogPrefix(ns, name) + keys::SeqKey(static_cast<uint64_t>(move.unix_ns())),
        move));
    EmitEvent(txn, {.type = EventType::kBranchMoved,
                    .unix_ns = move.unix_ns(),
                    .ns = ns,
                    .old_snapshot = ToSnapshotId(current->snapshot()),
                    .name = name,
                    .who = who});
    return txn.Delete(key);
  });
}

Result<std::vector<BranchInfo>> SnapshotManager::ListBranches(const std::string& ns) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  return ScanRecords<BranchRecord, BranchInfo>(*ctx_.meta, keys::BranchPrefix(ns), &FromBranch,
                                               "branch");
}

Result<std::vector<BranchMoveInfo>> SnapshotManager::BranchLog(const std::string& ns,
                                                               const std::string& name) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_RETURN_IF_ERROR(ValidateRefName(name));
  auto convert = +[](const BranchMove& m) {
    BranchMoveInfo info;
    if (!m.old_snapshot().empty()) info.old_snapshot = ToSnapshotId(m.old_snapshot());
    if (!m.new_snapshot().empty()) info.new_snapshot = ToSnapshotId(m.new_snapshot());
    info.unix_ns = m.unix_ns();
    info.who = m.who();
    return info;
  };
  return ScanRecords<BranchMove, BranchMoveInfo>(*ctx_.meta, keys::BranchLogPrefix(ns, name),
                                                 convert, "branch move");
}

Result<TagInfo> SnapshotManager::CreateTag(const std::string& ns, const std::string& name,
                                           const std::string& ref, const std::string& who) {
  AIFS_RETURN_IF_ERROR(ValidateRefName(name));
  AIFS_ASSIGN_OR_RETURN(SnapshotInfo target, Resolve(ns, ref));
  TagRecord tag;
  AIFS_RETURN_IF_ERROR(RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
    const std::string key = keys::Tag(ns, name);
    AIFS_ASSIGN_OR_RETURN(auto existing, txn.Get(key));
    if (existing) return err::AlreadyExists("TAG_EXISTS", "tag '" + name + "' already exists");
    AIFS_ASSIGN_OR_RETURN(auto branch, txn.Get(keys::Branch(ns, name)));
    if (branch) return err::AlreadyExists("REF_NAME_TAKEN", "'" + name + "' is already a branch");
    tag.set_name(name);
    tag.set_snapshot(Raw(target.id.bytes()));
    tag.set_created_unix_ns(NowUnixNanos());
    tag.set_created_by(who);
    EmitEvent(txn, {.type = EventType::kTagCreated,
                    .unix_ns = tag.created_unix_ns(),
                    .ns = ns,
                    .snapshot = target.id,
                    .name = name,
                    .who = who});
    return PutRecord(txn, key, tag);
  }));
  return FromTag(tag);
}

Status SnapshotManager::DeleteTag(const std::string& ns, const std::string& name,
                                  const std::string& who) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_RETURN_IF_ERROR(ValidateRefName(name));
  return RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
    const std::string key = keys::Tag(ns, name);
    AIFS_ASSIGN_OR_RETURN(auto tag, LoadRecord<TagRecord>(txn, key, "tag"));
    if (!tag) return err::NotFound("TAG_NOT_FOUND", "tag '" + name + "' not found");
    TagDeletion audit;
    *audit.mutable_tag() = *tag;
    audit.set_deleted_unix_ns(NowUnixNanos());
    audit.set_deleted_by(who);
    AIFS_RETURN_IF_ERROR(PutRecord(
        txn, keys::TagAuditPrefix(ns) + keys::SeqKey(static_cast<uint64_t>(audit.deleted_unix_ns())),
        audit));
    EmitEvent(txn, {.type = EventType::kTagDeleted,
                    .unix_ns = audit.deleted_unix_ns(),
                    .ns = ns,
                    .snapshot = ToSnapshotId(tag->snapshot()),
                    .name = name,
                    .who = who});
    return txn.Delete(key);
  });
}

Result<std::vector<TagInfo>> SnapshotManager::ListTags(const std::string& ns) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  return ScanRecords<TagRecord, TagInfo>(*ctx_.meta, keys::TagPrefix(ns), &FromTag, "tag");
}

}  // namespace aifs
