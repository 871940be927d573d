#include "aifs/engine/asset_writer.h"

#include <algorithm>

#include "aifs/core/clock.h"
#include "aifs/core/hex.h"
#include "aifs/core/random.h"
#include "aifs/engine/records_view.h"
#include "aifs/meta/keys.h"
#include "aifs/meta/records.h"
#include "aifs/storage/chunk_sealer.h"

namespace aifs {

using store::v1::AssetRecord;
using store::v1::ChunkRecord;
using store::v1::NamespaceRecord;

EngineAssetWriter::EngineAssetWriter(StoreContext& ctx, PutOptions options)
    : ctx_(ctx), options_(std::move(options)), validator_(NewKindValidator(options_.kind)) {
  buffer_.reserve(2 * ctx_.chunker.params().max_size);
}

EngineAssetWriter::~EngineAssetWriter() {
  if (!done_) Abort();
}

Status EngineAssetWriter::Write(ByteSpan data) {
  if (done_) return err::FailedPrecondition("PUT_FINISHED", "the put was already finished");
  {
    std::lock_guard lock(mu_);
    if (!first_error_.ok()) return first_error_;
  }
  if (options_.expected_size && size_ + data.size() > *options_.expected_size)
    return err::InvalidArgument("SIZE_MISMATCH", "more bytes than the declared size");
  if (validator_) {
    Status st = validator_->Update(data);
    if (!st.ok()) return st;
  }
  hasher_.Update(data);
  size_ += data.size();
  buffer_.insert(buffer_.end(), data.begin(), data.end());
  return CutChunks(/*at_eof=*/false);
}

Status EngineAssetWriter::CutChunks(bool at_eof) {
  const size_t max = ctx_.chunker.params().max_size;
  while (buffer_.size() - buffer_pos_ >= max || (at_eof && buffer_pos_ < buffer_.size())) {
    ByteSpan rest(buffer_.data() + buffer_pos_, buffer_.size() - buffer_pos_);
    size_t cut = ctx_.chunker.NextCut(rest);
    Dispatch(Bytes(rest.begin(), rest.begin() + static_cast<ptrdiff_t>(cut)));
    buffer_pos_ += cut;
  }
  // Compact only once the consumed prefix dominates: amortised O(1) per byte.
  if (buffer_pos_ > buffer_.size() / 2) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(buffer_pos_));
    buffer_pos_ = 0;
  }
  std::lock_guard lock(mu_);
  return first_error_;
}

void EngineAssetWriter::Dispatch(Bytes chunk) {
  const size_t max_running = 2 * ctx_.pool->size() + 2;
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return running_ < max_running; });
  Slot& slot = slots_.emplace_back();
  slot.length = chunk.size();
  ++running_;
  lock.unlock();
  ctx_.pool->Post([this, &slot, chunk = std::move(chunk)] {
    ProcessChunk(slot, chunk);
    std::lock_guard guard(mu_);
    --running_;
    cv_.notify_all();
  });
}

void EngineAssetWriter::ProcessChunk(Slot& slot, const Bytes& chunk) {
  auto fail = [&](const Status& st) {
    std::lock_guard lock(mu_);
    if (first_error_.ok()) first_error_ = st;
  };
  slot.hash = Blake3::Hash(chunk);
  {
    std::lock_guard lock(mu_);
    if (!first_error_.ok()) return;
    if (!by_hash_.emplace(slot.hash, &slot).second) return;  // another slot stores it
    slot.writes_chunk = true;
  }
  auto existing = ctx_.meta->Get(keys::Chunk(options_.ns, slot.hash));
  if (!existing.ok()) return fail(existing.status());
  if (existing->has_value()) return;  // deduplicated: already stored in this namespace

  std::array<uint8_t, 16> name_bytes;
  Status st = SecureRandom(name_bytes);
  if (!st.ok()) return fail(st);
  const std::string name = HexEncode(name_bytes);
  Bytes object;
  st = SealChunk(*ctx_.kms, options_.ns, slot.hash, chunk, ctx_.compression, object, slot.record);
  if (!st.ok()) return fail(st);
  slot.record.set_object(name);
  ctx_.in_flight.Add(name);
  st = ctx_.chunks->Put(name, object);
  if (!st.ok()) {
    ctx_.in_flight.Remove(name);
    return fail(st.WithContext("storing chunk"));
  }
  slot.wrote_object = true;
}

Status EngineAssetWriter::WaitForTasks() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return running_ == 0; });
  return first_error_;
}

Result<PutResult> EngineAssetWriter::Commit() {
  if (done_) return err::FailedPrecondition("PUT_FINISHED", "the put was already finished");
  Status st = validator_ ? validator_->Finish() : Status::Ok();
  if (st.ok()) st = CutChunks(/*at_eof=*/true);
  if (st.ok()) st = WaitForTasks();
  if (st.ok() && options_.expected_size && size_ != *options_.expected_size)
    st = err::InvalidArgument("SIZE_MISMATCH", "stream ended after " + std::to_string(size_) +
                                                   " of " +
                                                   std::to_string(*options_.expected_size) +
                                                   " declared bytes");
  const AssetId id(hasher_.Finalize());
  if (st.ok() && options_.expected_id && *options_.expected_id != id)
    st = err::InvalidArgument("ID_MISMATCH", "content hashes to " + id.ToHex() +
                                                 ", not the expected " +
                                                 options_.expected_id->ToHex());
  const bool wrote_any =
      std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.wrote_object; });
  if (st.ok() && wrote_any) st = ctx_.chunks->Sync();
  PutResult result;
  std::vector<std::string> unused;
  if (st.ok()) st = PublishAsset(id, result, unused);
  if (!st.ok()) {
    Abort();
    return st;
  }
  done_ = true;
  DeleteObjects(unused);
  for (const Slot& s : slots_)
    if (s.wrote_object) ctx_.in_flight.Remove(s.record.object());
  return result;
}

// One transaction: the namespace must still exist; chunk records are created
// or their reference counts raised; the asset record becomes visible.
Status EngineAssetWriter::PublishAsset(const AssetId& id, PutResult& result,
                                       std::vector<std::string>& unused) {
  const std::string& ns = options_.ns;
  return RunTransaction(*ctx_.meta, [&](MetaTxn& txn) -> Status {
    result = PutResult{};
    unused.clear();
    const std::string ns_key = keys::Namespace(ns);
    AIFS_ASSIGN_OR_RETURN(auto ns_rec, LoadRecord<NamespaceRecord>(txn, ns_key, "namespace"));
    if (!ns_rec) return err::NotFound("NAMESPACE_NOT_FOUND", "namespace '" + ns + "' not found");
    const std::string asset_key = keys::Asset(ns, id.bytes());
    AIFS_ASSIGN_OR_RETURN(auto existing, LoadRecord<AssetRecord>(txn, asset_key, "asset"));
    result.chunks_total = slots_.size();

    AssetRecord asset;
    if (existing) {
      // Same bytes, same asset: nothing new is stored, the first record stays.
      asset = std::move(*existing);
      for (const Slot& s : slots_)
        if (s.wrote_object) unused.push_back(s.record.object());
    } else {
      for (Slot& s : slots_) {
        if (!s.writes_chunk) continue;
        const std::string chunk_key = keys::Chunk(ns, s.hash);
        AIFS_ASSIGN_OR_RETURN(auto rec, LoadRecord<ChunkRecord>(txn, chunk_key, "chunk"));
        if (rec) {
          rec->set_refcount(rec->refcount() + 1);
          if (s.wrote_object) unused.push_back(s.record.object());  // a concurrent put won
          AIFS_RETURN_IF_ERROR(PutRecord(txn, chunk_key, *rec));
        } else if (s.wrote_object) {
          ChunkRecord fresh = s.record;
          fresh.set_refcount(1);
          AIFS_RETURN_IF_ERROR(PutRecord(txn, chunk_key, fresh));
          ns_rec->set_chunk_count(ns_rec->chunk_count() + 1);
          ns_rec->set_stored_bytes(ns_rec->stored_bytes() + fresh.stored_size());
          ++result.chunks_new;
          result.bytes_stored += fresh.stored_size();
        } else {
          return err::Aborted("CHUNK_RECLAIMED",
                              "a chunk this put deduplicated against was deleted meanwhile; "
                              "retry the put");
        }
      }
      asset.set_id(id.bytes().data(), id.bytes().size());
      asset.set_ns(ns);
      asset.set_kind(static_cast<store::v1::AssetKind>(options_.kind));
      asset.set_size(size_);
      asset.mutable_metadata()->insert(options_.metadata.begin(), options_.metadata.end());
      for (const Slot& s : slots_) {
        auto* ref = asset.add_chunks();
        ref->set_hash(s.hash.data(), s.hash.size());
        ref->set_length(s.length);
      }
      asset.set_created_unix_ns(NowUnixNanos());
      AIFS_RETURN_IF_ERROR(PutRecord(txn, asset_key, asset));
      ns_rec->set_asset_count(ns_rec->asset_count() + 1);
      ns_rec->set_logical_bytes(ns_rec->logical_bytes() + size_);
      AIFS_RETURN_IF_ERROR(PutRecord(txn, ns_key, *ns_rec));
      result.created = true;
    }
    result.asset = ToAssetInfo(asset, /*with_chunks=*/false);
    return Status::Ok();
  });
}

void EngineAssetWriter::DeleteObjects(const std::vector<std::string>& names) {
  for (const auto& name : names) {
    (void)ctx_.chunks->Delete(name);  // a failure leaves an orphan for GC
    ctx_.in_flight.Remove(name);
  }
}

void EngineAssetWriter::Abort() {
  done_ = true;
  (void)WaitForTasks();
  std::vector<std::string> written;
  for (const Slot& s : slots_)
    if (s.wrote_object) written.push_back(s.record.object());
  DeleteObjects(written);
}

}  // namespace aifs
