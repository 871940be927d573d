#include "aifs/engine/space.h"

#include <algorithm>

namespace aifs {

namespace {

// Deletes write a few small log records: they go on while this much is free.
constexpr uint64_t kDeleteFloor = 64 << 10;

std::string Mib(uint64_t bytes) {
  if (bytes < (1 << 20)) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes >> 20) + " MiB";
}

Status CheckOne(const store::v1::StoreConfig& config, const std::string& what,
                const std::optional<DiskSpace>& space, SpaceUse use) {
  if (!space) return Status::Ok();
  const uint64_t reserve = SpaceReserve(config, space->total);
  const uint64_t needed = use == SpaceUse::kGrows ? reserve : kDeleteFloor;
  if (space->available >= needed) return Status::Ok();
  return err::ResourceExhausted(
      "STORAGE_FULL", "the " + what + " has " + Mib(space->available) + " free, below the " +
                          Mib(needed) + " kept in reserve" +
                          (use == SpaceUse::kGrows ? "; deletes and `aifs gc` still work" : ""));
}

}  // namespace

uint64_t SpaceReserve(const store::v1::StoreConfig& config, uint64_t total) {
  if (config.space_reserve_bytes() != 0) return config.space_reserve_bytes();
  return std::clamp<uint64_t>(total / 50, 8 << 20, 256 << 20);
}

Status CheckSpace(const StoreContext& ctx, SpaceUse use) {
  if (use == SpaceUse::kNone) return Status::Ok();
  Status meta = CheckOne(ctx.config, "metadata store " + ctx.meta->Url(), ctx.meta->Space(), use);
  // A delete on a full disk: the metadata store's ballast makes room for it.
  if (!meta.ok() && use == SpaceUse::kFrees && ctx.meta->ReleaseSpareSpace())
    meta = CheckOne(ctx.config, "metadata store " + ctx.meta->Url(), ctx.meta->Space(), use);
  AIFS_RETURN_IF_ERROR(meta);
  return CheckOne(ctx.config, "chunk store " + ctx.chunks->Url(), ctx.chunks->Space(), use);
}

}  // namespace aifs
