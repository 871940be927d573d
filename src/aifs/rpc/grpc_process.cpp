#include "aifs/rpc/grpc_process.h"

#include <absl/synchronization/mutex.h>

namespace aifs::rpc {

void SkipMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace aifs::rpc
