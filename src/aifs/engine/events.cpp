#include "aifs/engine/events.h"

#include <algorithm>
#include <chrono>

#include "aifs/core/bytes.h"
#include "aifs/core/clock.h"
#include "aifs/meta/records.h"

namespace aifs {

namespace {

using store::v1::EventRecord;

template <typename Id>
std::string Raw(const std::optional<Id>& id) {
  return id ? std::string(AsChars(id->bytes())) : std::string();
}

std::optional<AssetId> AssetFrom(const std::string& b) {
  if (b.empty()) return std::nullopt;
  return AssetId::FromBytes(AsBytes(b));
}

std::optional<SnapshotId> SnapshotFrom(const std::string& b) {
  if (b.size() != SnapshotId::kSize) return std::nullopt;
  return SnapshotId(FixedBytes<SnapshotId::kSize>(b));
}

}  // namespace

Result<Event> DecodeEvent(uint64_t seq, std::string_view bytes) {
  EventRecord rec;
  AIFS_RETURN_IF_ERROR(ParseRecord(bytes, rec, "event"));
  Event e;
  e.seq = seq;
  e.type = static_cast<EventType>(rec.type());
  e.unix_ns = rec.unix_ns();
  e.ns = rec.ns();
  e.asset = AssetFrom(rec.asset());
  e.parent = AssetFrom(rec.parent());
  e.snapshot = SnapshotFrom(rec.snapshot());
  e.old_snapshot = SnapshotFrom(rec.old_snapshot());
  e.name = rec.name();
  e.who = rec.who();
  e.detail = rec.detail();
  return e;
}

namespace {

bool Wanted(const EventQuery& q, const Event& e) {
  if (!q.ns.empty() && e.ns != q.ns) return false;
  return q.types.empty() || std::find(q.types.begin(), q.types.end(), e.type) != q.types.end();
}

}  // namespace

void EmitEvent(MetaTxn& txn, Event event) {
  EventRecord rec;
  rec.set_type(static_cast<store::v1::EventType>(event.type));
  rec.set_unix_ns(event.unix_ns ? event.unix_ns : NowUnixNanos());
  rec.set_ns(event.ns);
  rec.set_asset(Raw(event.asset));
  rec.set_parent(Raw(event.parent));
  rec.set_snapshot(Raw(event.snapshot));
  rec.set_old_snapshot(Raw(event.old_snapshot));
  rec.set_name(event.name);
  rec.set_who(event.who);
  rec.set_detail(event.detail);
  txn.AppendLog(SerializeDeterministic(rec));
}

Status StreamEvents(MetaStore& meta, const EventQuery& query, const EventSink& sink) {
  // How long an idle follower sleeps before asking keep_going again; new
  // events wake it at once.
  constexpr auto kIdlePoll = std::chrono::milliseconds(50);
  uint64_t cursor = query.after;
  while (true) {
    Status st;
    AIFS_ASSIGN_OR_RETURN(cursor, meta.ScanLog(cursor, [&](uint64_t seq, std::string_view bytes) {
      auto event = DecodeEvent(seq, bytes);
      st = event.ok() ? (Wanted(query, *event) ? sink(*event) : Status::Ok()) : event.status();
      return st.ok();
    }));
    AIFS_RETURN_IF_ERROR(st);
    if (!query.follow) return Status::Ok();
    while (!meta.WaitForLog(cursor, kIdlePoll)) {
      if (query.keep_going && !query.keep_going())
        return err::Cancelled("SUBSCRIPTION_ENDED", "the subscriber went away");
    }
  }
}

}  // namespace aifs
