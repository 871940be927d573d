// The engine's event log: every commit appends events describing itself to
// the MetaStore's ordered log, in the same transaction, so an event exists
// exactly when what it describes does. Subscribers read the log in sequence
// order and wait on the store for new entries. Internal.
#pragma once

#include "aifs/api/types.h"
#include "aifs/meta/meta_store.h"

namespace aifs {

// Adds `event` (seq is assigned at commit; unix_ns defaults to now).
void EmitEvent(MetaTxn& txn, Event event);

// The event of a log entry.
Result<Event> DecodeEvent(uint64_t seq, std::string_view entry);

// Serves Api::SubscribeEvents over the store's log.
Status StreamEvents(MetaStore& meta, const EventQuery& query, const EventSink& sink);

}  // namespace aifs
