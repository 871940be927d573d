#include "aifs/engine/operator_registry.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "aifs/core/clock.h"
#include "aifs/core/random.h"
#include "aifs/engine/publish.h"
#include "aifs/engine/records_view.h"
#include "aifs/ingest/operator_kind.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"

namespace aifs {

using store::v1::OperatorFailureRecord;
using store::v1::OperatorProgress;
using store::v1::OperatorRecord;

namespace {

std::string Describe(const std::string& ns, const std::string& name) {
  return "operator '" + err::Echo(name) + "' of namespace '" + ns + "'";
}

Status OperatorNotFound(const std::string& ns, const std::string& name) {
  return err::NotFound("OPERATOR_NOT_FOUND", Describe(ns, name) + " does not exist");
}

std::string GenerationHex(uint64_t generation) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, generation);
  return buf;
}

}  // namespace

Result<StoredOperator> LoadOperator(MetaTxn& txn, const std::string& ns, const std::string& name) {
  AIFS_ASSIGN_OR_RETURN(auto rec,
                        LoadRecord<OperatorRecord>(txn, keys::Operator(ns, name), "operator"));
  if (!rec) return OperatorNotFound(ns, name);
  AIFS_ASSIGN_OR_RETURN(
      auto progress,
      LoadRecord<OperatorProgress>(txn, keys::OperatorProgress(ns, name), "operator progress"));
  StoredOperator op{std::move(*rec), progress.value_or(OperatorProgress())};
  return op;
}

std::string StoredOperator::generation() const { return GenerationHex(rec.generation()); }

bool OperatorMatch::Matches(const AssetInfo& asset) const {
  if (asset.metadata.count(std::string(kMadeByKey))) return false;
  if (kind && asset.kind != *kind) return false;
  for (const MetaFilter& f : filters) {
    auto it = asset.metadata.find(f.key);
    if (!MatchesFilter(f, it == asset.metadata.end() ? nullptr : &it->second)) return false;
  }
  return true;
}

Result<OperatorMatch> ParseOperatorMatch(std::string_view text) {
  OperatorMatch match;
  auto bad = [&](std::string_view term, std::string why) {
    return err::InvalidArgument(
        "BAD_OPERATOR_MATCH", "match term '" + err::Echo(term) + "': " + std::move(why) +
                                  " (terms: kind=K, KEY=VALUE, KEY^=PREFIX, KEY; comma-separated)");
  };
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view term = text.substr(start, comma - start);
    start = comma + 1;
    while (!term.empty() && term.front() == ' ') term.remove_prefix(1);
    while (!term.empty() && term.back() == ' ') term.remove_suffix(1);
    if (term.empty()) return bad(term, "empty term");
    MetaFilter f;
    const size_t eq = term.find('=');
    if (eq == std::string_view::npos) {
      f.key = std::string(term);
      f.op = MetaFilter::Op::kExists;
    } else if (eq > 0 && term[eq - 1] == '^') {
      f.key = std::string(term.substr(0, eq - 1));
      f.op = MetaFilter::Op::kPrefix;
      f.value = std::string(term.substr(eq + 1));
    } else {
      f.key = std::string(term.substr(0, eq));
      f.op = MetaFilter::Op::kEquals;
      f.value = std::string(term.substr(eq + 1));
    }
    if (f.key.empty()) return bad(term, "no key");
    if (f.key == "kind") {
      if (f.op != MetaFilter::Op::kEquals) return bad(term, "kind takes '='");
      auto kind = ParseKind(f.value);
      if (!kind.ok()) return bad(term, kind.status().message());
      if (match.kind && *match.kind != *kind) return bad(term, "two different kinds");
      match.kind = *kind;
      continue;
    }
    match.filters.push_back(std::move(f));
  }
  return match;
}

Status ValidateOperatorName(std::string_view name) {
  auto ok = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (!first && (c == '.' || c == '_' || c == '-'));
  };
  bool valid = !name.empty() && name.size() <= 64;
  for (size_t i = 0; valid && i < name.size(); ++i) valid = ok(name[i], i == 0);
  if (!valid)
    return err::InvalidArgument("BAD_OPERATOR_NAME",
                                "operator name '" + err::Echo(name) +
                                    "': 1-64 of a-z 0-9 . _ - (starting with a letter or digit)");
  return Status::Ok();
}

Result<StoredOperator> AddOperatorRecord(MetaStore& meta, const OperatorSpec& spec,
                                         const std::string& who) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(spec.ns));
  AIFS_RETURN_IF_ERROR(ValidateOperatorName(spec.name));
  AIFS_RETURN_IF_ERROR(ParseOperatorMatch(spec.match).status());
  AIFS_RETURN_IF_ERROR(MakeOperatorKind(spec).status());
  uint64_t generation = 0;
  AIFS_RETURN_IF_ERROR(
      SecureRandom(MutableByteSpan(reinterpret_cast<uint8_t*>(&generation), sizeof generation)));
  StoredOperator op;
  op.rec.set_ns(spec.ns);
  op.rec.set_name(spec.name);
  op.rec.set_kind(spec.kind);
  op.rec.set_match(spec.match);
  for (const auto& [k, v] : spec.params) (*op.rec.mutable_params())[k] = v;
  op.rec.set_created_unix_ns(NowUnixNanos());
  op.rec.set_who(who);
  op.rec.set_generation(generation);
  op.rec.set_backfill(spec.backfill);
  op.progress.set_generation(generation);
  op.progress.set_backfilling(spec.backfill);
  AIFS_RETURN_IF_ERROR(RunTransaction(meta, [&](MetaTxn& txn) -> Status {
    AIFS_ASSIGN_OR_RETURN(auto ns, txn.Get(keys::Namespace(spec.ns)));
    if (!ns) return NamespaceNotFound(spec.ns);
    AIFS_ASSIGN_OR_RETURN(auto existing, txn.Get(keys::Operator(spec.ns, spec.name)));
    if (existing)
      return err::AlreadyExists("OPERATOR_EXISTS", Describe(spec.ns, spec.name) + " exists");
    // Everything committed from here on is its input; what was committed
    // before is only with backfill (from the live assets, not the log).
    op.progress.set_cursor(meta.LogWatermark());
    AIFS_RETURN_IF_ERROR(PutRecord(txn, keys::Operator(spec.ns, spec.name), op.rec));
    return PutRecord(txn, keys::OperatorProgress(spec.ns, spec.name), op.progress);
  }));
  return op;
}

Result<StoredOperator> LoadOperator(MetaStore& meta, const std::string& ns,
                                    const std::string& name) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_RETURN_IF_ERROR(ValidateOperatorName(name));
  StoredOperator op;
  AIFS_ASSIGN_OR_RETURN(auto rec, meta.Get(keys::Operator(ns, name)));
  if (!rec) return OperatorNotFound(ns, name);
  AIFS_RETURN_IF_ERROR(ParseRecord(*rec, op.rec, "operator"));
  AIFS_ASSIGN_OR_RETURN(auto progress, meta.Get(keys::OperatorProgress(ns, name)));
  if (progress) AIFS_RETURN_IF_ERROR(ParseRecord(*progress, op.progress, "operator progress"));
  return op;
}

Result<std::vector<StoredOperator>> LoadOperators(MetaStore& meta, const std::string& ns) {
  if (!ns.empty()) AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  const std::string prefix =
      ns.empty() ? std::string(keys::kOperatorPrefixAll) : keys::OperatorPrefix(ns);
  std::vector<std::pair<std::string, std::string>> found;  // (ns, name)
  Status parse;
  AIFS_RETURN_IF_ERROR(
      meta.Scan(prefix, PrefixEnd(prefix), [&](std::string_view, std::string_view v) {
        OperatorRecord rec;
        parse = ParseRecord(v, rec, "operator");
        if (!parse.ok()) return false;
        found.emplace_back(rec.ns(), rec.name());
        return true;
      }));
  AIFS_RETURN_IF_ERROR(parse);
  std::vector<StoredOperator> out;
  for (const auto& [n, name] : found) {
    auto op = LoadOperator(meta, n, name);
    if (!op.ok() && op.status().code() == Code::kNotFound) continue;  // removed meanwhile
    AIFS_RETURN_IF_ERROR(op.status());
    out.push_back(std::move(*op));
  }
  return out;
}

Status RemoveOperatorRecord(MetaStore& meta, const std::string& ns, const std::string& name) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_RETURN_IF_ERROR(ValidateOperatorName(name));
  std::string generation;
  AIFS_RETURN_IF_ERROR(RunTransaction(meta, [&](MetaTxn& txn) -> Status {
    AIFS_ASSIGN_OR_RETURN(const StoredOperator op, LoadOperator(txn, ns, name));
    generation = op.generation();
    AIFS_RETURN_IF_ERROR(txn.Delete(keys::Operator(ns, name)));
    return txn.Delete(keys::OperatorProgress(ns, name));
  }));
  // Per-input records of the removed generation (only: an operator of the
  // same name added meanwhile has its own). Nobody reads them again, so a
  // crash that brings some back costs only space.
  for (const char* kind : {"opd", "opf", "opr"}) {
    const std::string prefix = keys::OperatorInputPrefix(kind, ns, name, generation);
    (void)meta.DeleteRange(prefix, PrefixEnd(prefix));
  }
  return Status::Ok();
}

Result<StoredOperator> SetOperatorPaused(MetaStore& meta, const std::string& ns,
                                         const std::string& name, bool paused) {
  AIFS_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  AIFS_RETURN_IF_ERROR(ValidateOperatorName(name));
  StoredOperator op;
  AIFS_RETURN_IF_ERROR(RunTransaction(meta, [&](MetaTxn& txn) -> Status {
    AIFS_ASSIGN_OR_RETURN(op, LoadOperator(txn, ns, name));
    if (op.rec.paused() == paused) return Status::Ok();
    op.rec.set_paused(paused);
    return PutRecord(txn, keys::Operator(ns, name), op.rec);
  }));
  return op;
}

Result<std::vector<OperatorFailure>> LoadOperatorFailures(MetaStore& meta, const std::string& ns,
                                                          const std::string& name, size_t limit) {
  AIFS_ASSIGN_OR_RETURN(const StoredOperator op, LoadOperator(meta, ns, name));
  const std::string prefix = keys::OperatorInputPrefix("opf", ns, name, op.generation());
  std::vector<OperatorFailure> out;
  Status parse;
  AIFS_RETURN_IF_ERROR(
      meta.Scan(prefix, PrefixEnd(prefix), [&](std::string_view k, std::string_view v) {
        if (out.size() >= limit) return false;
        OperatorFailureRecord rec;
        parse = ParseRecord(v, rec, "operator failure");
        if (!parse.ok()) return false;
        auto id = AssetId::Parse(k.substr(prefix.size()));
        if (!id.ok()) {
          parse = err::DataLoss("METADATA_CORRUPT", "operator failure key " + err::Echo(k));
          return false;
        }
        out.push_back({*id, rec.attempts(), rec.reason(), rec.message(), rec.unix_ns()});
        return true;
      }));
  AIFS_RETURN_IF_ERROR(parse);
  std::sort(out.begin(), out.end(), [](const OperatorFailure& a, const OperatorFailure& b) {
    return a.unix_ns < b.unix_ns;
  });
  return out;
}

Result<uint64_t> ResolveOperatorFailures(MetaStore& meta, const std::string& ns,
                                         const std::string& name, const std::vector<AssetId>& ids,
                                         bool retry) {
  AIFS_ASSIGN_OR_RETURN(const StoredOperator current, LoadOperator(meta, ns, name));
  const std::string generation = current.generation();
  std::vector<AssetId> todo = ids;
  if (todo.empty()) {
    AIFS_ASSIGN_OR_RETURN(auto all, LoadOperatorFailures(meta, ns, name, SIZE_MAX));
    for (const OperatorFailure& f : all) todo.push_back(f.asset);
  }
  uint64_t resolved = 0;
  // In transactions of at most 1,000, each with the progress it changes.
  constexpr size_t kPerTxn = 1000;
  for (size_t begin = 0; begin < todo.size(); begin += kPerTxn) {
    const size_t end = std::min(todo.size(), begin + kPerTxn);
    AIFS_RETURN_IF_ERROR(RunTransaction(meta, [&](MetaTxn& txn) -> Status {
      AIFS_ASSIGN_OR_RETURN(StoredOperator op, LoadOperator(txn, ns, name));
      if (op.generation() != generation) return OperatorNotFound(ns, name);
      for (size_t i = begin; i < end; ++i) {
        const std::string key = keys::OperatorInput("opf", ns, name, generation, todo[i].bytes());
        AIFS_ASSIGN_OR_RETURN(auto failure, txn.Get(key));
        if (!failure)
          return err::NotFound("OPERATOR_FAILURE_NOT_FOUND",
                               "asset " + todo[i].ToHex() + " is not on the dead-letter list of " +
                                   Describe(ns, name));
        AIFS_RETURN_IF_ERROR(txn.Delete(key));
        if (retry)
          AIFS_RETURN_IF_ERROR(
              txn.Put(keys::OperatorInput("opr", ns, name, generation, todo[i].bytes()), ""));
      }
      const uint64_t n = end - begin;
      op.progress.set_failed(op.progress.failed() >= n ? op.progress.failed() - n : 0);
      return PutRecord(txn, keys::OperatorProgress(ns, name), op.progress);
    }));
    resolved += end - begin;
  }
  return resolved;
}

OperatorSpec SpecOf(const OperatorRecord& rec) {
  OperatorSpec spec;
  spec.ns = rec.ns();
  spec.name = rec.name();
  spec.kind = rec.kind();
  spec.match = rec.match();
  spec.params = std::map<std::string, std::string>(rec.params().begin(), rec.params().end());
  spec.backfill = rec.backfill();
  return spec;
}

OperatorInfo ToOperatorInfo(const StoredOperator& op) {
  OperatorInfo info;
  info.spec = SpecOf(op.rec);
  info.paused = op.rec.paused();
  info.created_unix_ns = op.rec.created_unix_ns();
  info.who = op.rec.who();
  info.cursor = op.progress.cursor();
  info.backfilling = op.progress.backfilling();
  info.processed = op.progress.processed();
  info.produced = op.progress.produced();
  info.failed = op.progress.failed();
  info.last_error = op.progress.last_error();
  return info;
}

}  // namespace aifs
