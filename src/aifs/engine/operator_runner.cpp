#include "aifs/engine/operator_runner.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "aifs/core/clock.h"
#include "aifs/engine/events.h"
#include "aifs/ingest/operator_kind.h"
#include "aifs/kinds/embed.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"

namespace aifs {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// An input tried this many times in all (the first call and retries alone)
// goes to the dead-letter list.
constexpr uint32_t kAttempts = 3;
// Log entries looked at per pass (a pass commits its progress).
constexpr size_t kLogEntriesPerPass = 4096;
constexpr auto kMaxBackoff = 30s;

std::string LockName(const std::string& ns, const std::string& name) {
  return "operator/" + ns + "/" + name;
}

std::string ErrorText(const Status& st) { return st.reason() + ": " + st.message(); }

// kind.Run, holding it to its promise of one result per input.
Result<std::vector<Result<OperatorOutput>>> RunKind(OperatorKind& kind,
                                                    std::span<const OperatorInput> inputs) {
  AIFS_ASSIGN_OR_RETURN(auto results, kind.Run(inputs));
  if (results.size() != inputs.size())
    return err::Internal("OPERATOR_BAD_RESULT",
                         "the kind answered " + std::to_string(results.size()) + " results for " +
                             std::to_string(inputs.size()) + " inputs");
  return results;
}

// One input of a pass and what became of it.
struct Item {
  AssetInfo info;
  bool from_retry = false;
  bool gone = false;  // a queued retry of an asset deleted since: only dequeued
  Result<OperatorOutput> outcome = err::Internal("NOT_RUN", "not run");
  uint32_t attempts = 0;
};

}  // namespace

// Runs one operator: in a thread of its own (Start), or pass by pass for a
// drain in a process that runs no operators.
class OperatorRunner::Worker {
 public:
  Worker(OperatorRunner& runner, StoredOperator op)
      : runner_(runner), op_(std::move(op)), ns_(op_.rec.ns()), name_(op_.rec.name()) {}
  ~Worker() { Stop(); }

  uint64_t generation() const { return op_.rec.generation(); }
  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cancel_ = true;  // a call in flight gives up (OperatorKind::set_cancel)
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void Describe(OperatorInfo& info) const {
    std::lock_guard lock(mu_);
    info.state = state_;
    info.retries = retries_;
    if (!last_error_.empty()) info.last_error = last_error_;
  }

  // One pass (see operator_runner.h): whether there may be more to do now.
  // NOT_FOUND OPERATOR_NOT_FOUND once removed, FAILED_PRECONDITION
  // OPERATOR_PAUSED; any other error is the whole call's (back off).
  Result<bool> Pass(OperatorKind& kind);

  // Sleeps up to `d`; false when told to stop.
  bool Sleep(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [&] { return stop_; });
  }
  // `error`: a failed call, counted as a retry and kept (here and, so that
  // every server's status shows it, in the progress record) as the last error.
  void SetState(std::string state, const Status* error = nullptr) {
    {
      std::lock_guard lock(mu_);
      state_ = std::move(state);
      if (!error) return;
      last_error_ = ErrorText(*error);
      ++retries_;
    }
    RecordError(ErrorText(*error));
  }
  void RecordError(const std::string& text) {
    (void)RunTransaction(
        *runner_.ctx_.meta,
        [&](MetaTxn& m) -> Status {
          AIFS_ASSIGN_OR_RETURN(StoredOperator cur, LoadOperator(m, ns_, name_));
          if (cur.rec.generation() != op_.rec.generation() || cur.progress.last_error() == text)
            return Status::Ok();
          cur.progress.set_last_error(text);
          return PutRecord(m, keys::OperatorProgress(ns_, name_), cur.progress);
        },
        5s);
  }
  bool stopping() const {
    std::lock_guard lock(mu_);
    return stop_;
  }

 private:
  void Loop();
  // The next candidates (retry queue, backfill, log), into `items`; `next`
  // gets the progress after them. Whether the source ran dry.
  Result<bool> Gather(const OperatorMatch& match, size_t batch, std::vector<Item>& items,
                      store::v1::OperatorProgress& next);
  // Runs the kind on the items that need it, retrying inputs that failed.
  Status Run(OperatorKind& kind, std::vector<Item>& items);
  // Makes the result assets and commits everything of the pass at once.
  Status Commit(OperatorKind& kind, std::vector<Item>& items,
                const store::v1::OperatorProgress& next);
  Result<EmbeddingSpace> EnsureSpace(OperatorKind& kind, const std::vector<Item>& items);
  std::string Key(std::string_view kind, const AssetId& id) const {
    return keys::OperatorInput(kind, ns_, name_, op_.generation(), id.bytes());
  }

  OperatorRunner& runner_;
  const StoredOperator op_;
  const std::string ns_, name_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string state_ = "starting";
  uint64_t retries_ = 0;
  std::string last_error_;
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

void OperatorRunner::Worker::Loop() {
  MetaStore& meta = *runner_.ctx_.meta;
  while (!stopping()) {
    auto lock = meta.Lock(LockName(ns_, name_), 100ms);
    if (!lock.ok()) {
      SetState("elsewhere");
      Sleep(2s);
      continue;
    }
    auto kind = MakeOperatorKind(SpecOf(op_.rec));
    if (!kind.ok()) {
      SetState("backing-off", &kind.status());
      Sleep(5s);
      continue;
    }
    (*kind)->set_cancel(&cancel_);
    int failures = 0;
    while (!stopping()) {
      auto more = Pass(**kind);
      if (more.ok()) {
        failures = 0;
        SetState(*more ? "running" : "idle");
        if (!*more) meta.WaitForLog(meta.LogWatermark(), 250ms);
        continue;
      }
      const Status& st = more.status();
      if (st.reason() == "OPERATOR_NOT_FOUND" || stopping()) return;  // removed, or stopping
      if (st.reason() == "OPERATOR_PAUSED") {
        SetState("paused");
        Sleep(500ms);
        continue;
      }
      SetState("backing-off", &st);
      const auto pause =
          std::min<std::chrono::milliseconds>(kMaxBackoff, 250ms * (1 << std::min(failures, 7)));
      ++failures;
      Sleep(pause);
    }
  }
}

Result<bool> OperatorRunner::Worker::Pass(OperatorKind& kind) {
  MetaStore& meta = *runner_.ctx_.meta;
  AIFS_ASSIGN_OR_RETURN(const StoredOperator now, LoadOperator(meta, ns_, name_));
  if (now.rec.generation() != op_.rec.generation())
    return err::NotFound("OPERATOR_NOT_FOUND", "operator '" + name_ + "' was removed");
  if (now.rec.paused())
    return err::FailedPrecondition("OPERATOR_PAUSED", "operator '" + name_ + "' is paused");
  AIFS_ASSIGN_OR_RETURN(const OperatorMatch match, ParseOperatorMatch(now.rec.match()));
  std::vector<Item> items;
  store::v1::OperatorProgress next = now.progress;
  AIFS_ASSIGN_OR_RETURN(const bool dry, Gather(match, kind.batch_size(), items, next));
  const bool moved = next.cursor() != now.progress.cursor() ||
                     next.backfilling() != now.progress.backfilling() ||
                     next.backfill_after() != now.progress.backfill_after();
  if (items.empty() && !moved) return !dry;
  AIFS_RETURN_IF_ERROR(Run(kind, items));
  AIFS_RETURN_IF_ERROR(Commit(kind, items, next));
  return !dry || !items.empty();
}

Result<bool> OperatorRunner::Worker::Gather(const OperatorMatch& match, size_t batch,
                                            std::vector<Item>& items,
                                            store::v1::OperatorProgress& next) {
  MetaStore& meta = *runner_.ctx_.meta;
  std::vector<std::pair<AssetId, bool>> candidates;  // (id, from the retry queue)
  // 1. Inputs taken off the dead-letter list to run again.
  const std::string retry_prefix = keys::OperatorInputPrefix("opr", ns_, name_, op_.generation());
  AIFS_RETURN_IF_ERROR(
      meta.Scan(retry_prefix, PrefixEnd(retry_prefix), [&](std::string_view k, std::string_view) {
        if (auto id = AssetId::Parse(k.substr(retry_prefix.size())); id.ok())
          candidates.emplace_back(*id, true);
        return candidates.size() < batch;
      }));
  bool dry = candidates.size() < batch;
  // 2. The assets live when the operator was added (by ID), then 3. the log.
  if (candidates.size() < batch && next.backfilling()) {
    const std::string prefix = keys::AssetPrefix(ns_);
    std::string begin = prefix;
    if (!next.backfill_after().empty())
      begin = prefix + HexEncode(AsBytes(next.backfill_after())) + '\0';
    size_t looked = 0;
    bool ended = true;
    AIFS_RETURN_IF_ERROR(
        meta.Scan(begin, PrefixEnd(prefix), [&](std::string_view k, std::string_view) {
          auto id = AssetId::Parse(k.substr(prefix.size()));
          if (!id.ok()) return true;
          candidates.emplace_back(*id, false);
          next.set_backfill_after(
              std::string(reinterpret_cast<const char*>(id->bytes().data()), AssetId::kSize));
          ++looked;
          if (candidates.size() >= batch || looked >= kLogEntriesPerPass) {
            ended = false;
            return false;
          }
          return true;
        }));
    if (ended) next.set_backfilling(false);
    dry = false;
  } else if (candidates.size() < batch) {
    size_t looked = 0;
    Status decode;
    AIFS_ASSIGN_OR_RETURN(
        const uint64_t upto, meta.ScanLog(next.cursor(), [&](uint64_t seq, std::string_view entry) {
          auto event = DecodeEvent(seq, entry);
          if (!event.ok()) {
            decode = event.status();
            return false;
          }
          if (event->type == EventType::kAssetCommitted && event->ns == ns_ && event->asset)
            candidates.emplace_back(*event->asset, false);
          return candidates.size() < batch && ++looked < kLogEntriesPerPass;
        }));
    AIFS_RETURN_IF_ERROR(decode);
    dry = dry && upto >= meta.LogWatermark();
    next.set_cursor(std::max(next.cursor(), upto));
  }
  // Which of them are inputs: live, matching, not done yet.
  std::set<AssetId> seen;
  for (const auto& [id, from_retry] : candidates) {
    if (!seen.insert(id).second) continue;
    auto info = runner_.api_.StatAsset(ns_, id, false);
    if (!info.ok() && info.status().code() == Code::kNotFound) {
      if (from_retry)
        items.push_back({.info = {.ns = ns_, .id = id}, .from_retry = true, .gone = true});
      continue;  // gone since (a retry entry is just dropped)
    }
    AIFS_RETURN_IF_ERROR(info.status());
    if (!from_retry && !match.Matches(*info)) continue;
    AIFS_ASSIGN_OR_RETURN(auto done, meta.Get(Key("opd", id)));
    if (done && !from_retry) continue;
    items.push_back({.info = std::move(*info), .from_retry = from_retry});
  }
  return dry;
}

Status OperatorRunner::Worker::Run(OperatorKind& kind, std::vector<Item>& items) {
  std::vector<OperatorInput> inputs;
  std::vector<size_t> which;  // inputs[i] is items[which[i]]
  for (size_t i = 0; i < items.size(); ++i) {
    Item& item = items[i];
    if (item.gone) continue;
    const uint64_t prefix = kind.prefix_bytes();
    if (prefix == 0 && item.info.size > kind.max_input_bytes()) {
      item.outcome = err::InvalidArgument(
          "INPUT_TOO_LARGE", "asset of " + std::to_string(item.info.size) +
                                 " bytes; the operator takes at most " +
                                 std::to_string(kind.max_input_bytes()) + " (max_input_bytes)");
      item.attempts = 1;
      continue;
    }
    OperatorInput in{.ns = ns_,
                     .id = item.info.id,
                     .kind = item.info.kind,
                     .metadata = item.info.metadata,
                     .size = item.info.size};
    AIFS_RETURN_IF_ERROR(runner_.api_.ReadAsset(
        ns_, item.info.id, ReadRange{0, prefix ? prefix : ReadRange::kToEnd}, [&](ByteSpan b) {
          in.bytes.insert(in.bytes.end(), b.begin(), b.end());
          return Status::Ok();
        }));
    inputs.push_back(std::move(in));
    which.push_back(i);
  }
  if (inputs.empty()) return Status::Ok();
  // One call: Gather takes at most batch_size() inputs.
  AIFS_ASSIGN_OR_RETURN(auto results, RunKind(kind, inputs));
  for (size_t i = 0; i < inputs.size(); ++i) {
    Item& item = items[which[i]];
    item.outcome = std::move(results[i]);
    item.attempts = 1;
  }
  // Inputs that failed on their own: again alone, with growing pauses.
  for (size_t i = 0; i < inputs.size(); ++i) {
    Item& item = items[which[i]];
    auto pause = 200ms;
    while (!item.outcome.ok() && item.attempts < kAttempts) {
      if (!Sleep(pause)) return err::Cancelled("STOPPING", "the operator runner is stopping");
      pause *= 4;
      AIFS_ASSIGN_OR_RETURN(auto again, RunKind(kind, std::span(inputs).subspan(i, 1)));
      item.outcome = std::move(again.front());
      ++item.attempts;
      std::lock_guard lock(mu_);
      ++retries_;
    }
  }
  return Status::Ok();
}

Result<EmbeddingSpace> OperatorRunner::Worker::EnsureSpace(OperatorKind& kind,
                                                           const std::vector<Item>& items) {
  EmbeddingSpace space = kind.space();
  for (const Item& item : items) {
    if (!item.outcome.ok()) continue;
    for (const PassageVector& v : item.outcome->vectors) {
      if (space.dim == 0) space.dim = static_cast<uint32_t>(v.values.size());
      if (v.values.size() != space.dim)
        return err::FailedPrecondition("EMBEDDER_WRONG_DIMENSION",
                                       "a vector of " + std::to_string(v.values.size()) +
                                           " values for space '" + space.name + "' of dimension " +
                                           std::to_string(space.dim));
    }
  }
  if (space.dim == 0) return space;  // no vectors in this pass
  for (int attempt = 0; attempt < 2; ++attempt) {
    AIFS_ASSIGN_OR_RETURN(auto spaces, runner_.api_.ListSpaces(ns_));
    for (const EmbeddingSpace& s : spaces) {
      if (s.name != space.name) continue;
      if (s.dim != space.dim || s.metric != space.metric)
        return err::FailedPrecondition(
            "EMBEDDER_WRONG_DIMENSION",
            "space '" + s.name + "' has dimension " + std::to_string(s.dim) + " and metric " +
                std::string(MetricName(s.metric)) + "; the operator's vectors have " +
                std::to_string(space.dim) + " and " + std::string(MetricName(space.metric)));
      return space;
    }
    auto created = runner_.api_.CreateSpace(ns_, space);
    if (created.ok()) return space;
    if (created.status().code() != Code::kAlreadyExists) return created.status();
  }
  return space;
}

Status OperatorRunner::Worker::Commit(OperatorKind& kind, std::vector<Item>& items,
                                      const store::v1::OperatorProgress& next) {
  AIFS_ASSIGN_OR_RETURN(const EmbeddingSpace space, EnsureSpace(kind, items));
  const OperatorSpec spec = SpecOf(op_.rec);
  const std::string transform = "operator:" + name_;
  const std::string model = spec.params.count("model") ? spec.params.at("model") : space.name;
  AIFS_ASSIGN_OR_RETURN(auto txn, runner_.begin_(ns_));
  std::vector<uint64_t> made(items.size(), 0);
  for (size_t i = 0; i < items.size(); ++i) {
    Item& item = items[i];
    if (!item.outcome.ok() || item.gone) continue;
    const OperatorOutput& out = *item.outcome;
    const std::vector<ParentRef> parents{{item.info.id, transform, kind.describe()}};
    auto put = [&](PutOptions options, ByteSpan bytes) -> Status {
      options.ns = ns_;
      options.parents = parents;
      options.metadata[std::string(OperatorMatch::kMadeByKey)] = name_;
      AIFS_ASSIGN_OR_RETURN(auto writer, txn->BeginPut(options));
      AIFS_RETURN_IF_ERROR(writer->Write(bytes));
      AIFS_RETURN_IF_ERROR(writer->Commit().status());
      ++made[i];
      return Status::Ok();
    };
    for (size_t j = 0; j < out.vectors.size(); ++j) {
      const PassageVector& v = out.vectors[j];
      EmbedRecord rec;
      rec.model = space.name;
      rec.dim = space.dim;
      rec.metric = space.metric;
      rec.vectors = {v.values};
      rec.source = item.info.id.bytes();
      if (out.vectors.size() > 1) rec.chunk_index = static_cast<int64_t>(j);
      rec.metadata = {{"model", model}, {"operator", name_}};
      Bytes bytes;
      AIFS_RETURN_IF_ERROR(EncodeEmbed(rec, bytes));
      PutOptions options{.kind = AssetKind::kEmbed};
      options.metadata = {{"model", model},
                          {"aifs.source", item.info.id.ToHex()},
                          {std::string(kSourceOffsetKey), std::to_string(v.offset)},
                          {std::string(kSourceLengthKey), std::to_string(v.length)}};
      AIFS_RETURN_IF_ERROR(put(std::move(options), bytes));
    }
    if (!out.metadata.empty()) {
      // A record asset: the extracted metadata, as JSON and as its metadata
      // (so listings, filters and aggregate queries see it).
      nlohmann::json doc = {
          {"operator", name_}, {"source", item.info.id.ToHex()}, {"metadata", out.metadata}};
      const std::string text = doc.dump();
      PutOptions options{.kind = AssetKind::kBlob};
      for (const auto& [k, v] : out.metadata)
        if (!k.starts_with("aifs.")) options.metadata[k] = v;
      options.metadata["content_type"] = "application/json";
      options.metadata["aifs.source"] = item.info.id.ToHex();
      AIFS_RETURN_IF_ERROR(put(std::move(options), AsBytes(text)));
    }
  }
  const int64_t now = NowUnixNanos();
  auto also = [&](MetaTxn& m) -> Status {
    AIFS_ASSIGN_OR_RETURN(StoredOperator cur, LoadOperator(m, ns_, name_));
    if (cur.rec.generation() != op_.rec.generation())
      return err::NotFound("OPERATOR_NOT_FOUND", "operator '" + name_ + "' was removed");
    store::v1::OperatorProgress progress = cur.progress;
    progress.set_cursor(std::max(progress.cursor(), next.cursor()));
    progress.set_backfilling(next.backfilling());
    progress.set_backfill_after(next.backfill_after());
    for (size_t i = 0; i < items.size(); ++i) {
      const Item& item = items[i];
      const AssetId& id = item.info.id;
      if (item.from_retry) AIFS_RETURN_IF_ERROR(m.Delete(Key("opr", id)));
      if (item.gone) continue;
      if (item.outcome.ok()) {
        AIFS_RETURN_IF_ERROR(m.Put(Key("opd", id), ""));
        progress.set_processed(progress.processed() + 1);
        progress.set_produced(progress.produced() + made[i]);
        EmitEvent(m, {.type = EventType::kOperatorCompleted,
                      .ns = ns_,
                      .asset = id,
                      .name = name_,
                      .who = "operator:" + name_,
                      .detail = std::to_string(made[i]) + " assets"});
        continue;
      }
      const Status& st = item.outcome.status();
      store::v1::OperatorFailureRecord failure;
      failure.set_attempts(item.attempts);
      failure.set_reason(st.reason());
      failure.set_message(st.message());
      failure.set_unix_ns(now);
      AIFS_ASSIGN_OR_RETURN(auto listed, m.Get(Key("opf", id)));
      if (!listed) progress.set_failed(progress.failed() + 1);
      AIFS_RETURN_IF_ERROR(PutRecord(m, Key("opf", id), failure));
      progress.set_last_error(ErrorText(st));
      EmitEvent(m, {.type = EventType::kOperatorFailed,
                    .ns = ns_,
                    .asset = id,
                    .name = name_,
                    .who = "operator:" + name_,
                    .detail = st.reason()});
    }
    return PutRecord(m, keys::OperatorProgress(ns_, name_), progress);
  };
  return txn->CommitWith(also).status();
}

Result<std::vector<float>> EmbedWithOperator(MetaStore& meta, const std::string& ns,
                                             const std::string& name, const std::string& text,
                                             std::string& space) {
  AIFS_ASSIGN_OR_RETURN(const StoredOperator op, LoadOperator(meta, ns, name));
  AIFS_ASSIGN_OR_RETURN(auto kind, MakeOperatorKind(SpecOf(op.rec)));
  space = kind->space().name;
  if (space.empty())
    return err::InvalidArgument("OPERATOR_MAKES_NO_VECTORS",
                                "operator '" + name + "' (" + op.rec.kind() + ") makes no vectors");
  const OperatorInput input{.ns = ns,
                            .metadata = {{"content_type", "text/plain"}},
                            .size = text.size(),
                            .bytes = Bytes(text.begin(), text.end())};
  AIFS_ASSIGN_OR_RETURN(auto results, RunKind(*kind, std::span(&input, 1)));
  AIFS_RETURN_IF_ERROR(results.front().status());
  std::vector<PassageVector>& vectors = results.front()->vectors;
  if (vectors.size() != 1)
    return err::InvalidArgument("QUERY_TOO_LONG", "the query makes " +
                                                      std::to_string(vectors.size()) +
                                                      " passages of operator '" + name +
                                                      "' (chunk_bytes); give a shorter one");
  return std::move(vectors.front().values);
}

OperatorRunner::OperatorRunner(StoreContext& ctx, Api& api, BeginFn begin)
    : ctx_(ctx), api_(api), begin_(std::move(begin)) {}

OperatorRunner::~OperatorRunner() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  std::map<Key, std::unique_ptr<Worker>> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  workers.clear();  // each stops and joins
}

void OperatorRunner::Start() {
  if (started_.exchange(true)) return;
  supervisor_ = std::thread([this] { Supervise(); });
}

void OperatorRunner::Notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  wake_.notify_all();
}

void OperatorRunner::Supervise() {
  for (;;) {
    Reconcile();
    std::unique_lock lock(mu_);
    wake_.wait_for(lock, 1s, [&] { return stop_ || notified_; });
    if (stop_) return;
    notified_ = false;
  }
}

void OperatorRunner::Reconcile() {
  auto ops = LoadOperators(*ctx_.meta, "");
  if (!ops.ok()) return;  // the store is unreachable: look again later
  std::map<Key, StoredOperator> wanted;
  for (auto& op : *ops) wanted.emplace(Key{op.rec.ns(), op.rec.name()}, std::move(op));
  std::vector<std::unique_ptr<Worker>> retired;
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    for (auto it = workers_.begin(); it != workers_.end();) {
      auto w = wanted.find(it->first);
      if (w == wanted.end() || w->second.rec.generation() != it->second->generation()) {
        retired.push_back(std::move(it->second));
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [key, op] : wanted) {
      if (workers_.count(key)) continue;
      auto worker = std::make_unique<Worker>(*this, std::move(op));
      worker->Start();
      workers_.emplace(key, std::move(worker));
    }
  }
  retired.clear();  // stopped outside the lock: a call in flight may take a while
}

OperatorInfo OperatorRunner::Info(const StoredOperator& op) const {
  OperatorInfo info = ToOperatorInfo(op);
  info.log_head = ctx_.meta->LogWatermark();
  std::lock_guard lock(mu_);
  auto it = workers_.find(Key{info.spec.ns, info.spec.name});
  if (it != workers_.end()) {
    it->second->Describe(info);
  } else {
    info.state = started_ ? "starting" : "not-running";
  }
  if (info.paused) info.state = "paused";
  return info;
}

Result<OperatorInfo> OperatorRunner::Drain(const std::string& ns, const std::string& name,
                                           std::chrono::milliseconds timeout) {
  MetaStore& meta = *ctx_.meta;
  const auto deadline = Clock::now() + timeout;
  const uint64_t target = meta.LogWatermark();
  AIFS_ASSIGN_OR_RETURN(StoredOperator op, LoadOperator(meta, ns, name));
  auto caught_up = [&](const StoredOperator& o) -> Result<bool> {
    if (o.progress.cursor() < target || o.progress.backfilling()) return false;
    const std::string retry = keys::OperatorInputPrefix("opr", ns, name, o.generation());
    bool queued = false;
    AIFS_RETURN_IF_ERROR(
        meta.Scan(retry, PrefixEnd(retry), [&](std::string_view, std::string_view) {
          queued = true;
          return false;
        }));
    return !queued;
  };
  auto behind = [&](const StoredOperator& o, const std::string& error) {
    return Status(Code::kDeadlineExceeded, "OPERATOR_BEHIND",
                  "operator '" + name + "' is at log position " +
                      std::to_string(o.progress.cursor()) + " of " + std::to_string(target) +
                      (o.progress.backfilling() ? " (still backfilling)" : "") +
                      (error.empty() ? "" : "; last error " + error));
  };
  if (op.rec.paused())
    return err::FailedPrecondition("OPERATOR_PAUSED", "operator '" + name + "' is paused");
  if (started_) {  // a worker (here or on another server) does the work
    for (;;) {
      AIFS_ASSIGN_OR_RETURN(op, LoadOperator(meta, ns, name));
      AIFS_ASSIGN_OR_RETURN(const bool done, caught_up(op));
      if (done) return Info(op);
      if (Clock::now() >= deadline) return behind(op, Info(op).last_error);
      std::this_thread::sleep_for(20ms);
    }
  }
  // No runner in this process: run it here, under its lock.
  const auto left = [&] {
    return std::max(0ms,
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  };
  AIFS_ASSIGN_OR_RETURN(auto lock, meta.Lock(LockName(ns, name), left()));
  AIFS_ASSIGN_OR_RETURN(auto kind, MakeOperatorKind(SpecOf(op.rec)));
  Worker worker(*this, op);
  std::string error;
  int failures = 0;
  for (;;) {
    AIFS_ASSIGN_OR_RETURN(op, LoadOperator(meta, ns, name));
    AIFS_ASSIGN_OR_RETURN(const bool done, caught_up(op));
    if (done) return Info(op);
    if (Clock::now() >= deadline) return behind(op, error);
    auto more = worker.Pass(*kind);
    if (more.ok()) {
      failures = 0;
      continue;
    }
    if (more.status().code() == Code::kNotFound || more.status().reason() == "OPERATOR_PAUSED")
      return more.status();
    error = ErrorText(more.status());
    worker.SetState("backing-off", &more.status());
    const auto pause = std::min<std::chrono::milliseconds>(
        {kMaxBackoff, left(), 250ms * (1 << std::min(failures++, 7))});
    std::this_thread::sleep_for(pause);
  }
}

}  // namespace aifs
