// Status and Result: how every fallible AIFS call reports failure.
//
// A Status carries a code that maps 1:1 onto a gRPC status code, a stable
// machine-readable reason in UPPER_SNAKE_CASE (clients branch on it; it never
// changes meaning) and a human sentence (free to improve). Failures are never
// turned into empty data or OK.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace aifs {

// Values are the gRPC status codes (grpc/status.h), so conversion is a cast.
enum class Code : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string reason, std::string message)
      : code_(code), reason_(std::move(reason)), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& reason() const { return reason_; }
  const std::string& message() const { return message_; }

  // "NOT_FOUND ASSET_NOT_FOUND: asset 12ab… is not in namespace x"
  std::string ToString() const;

  // Adds context in front of the message, keeping code and reason.
  Status WithContext(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string reason_;
  std::string message_;
};

// Constructors for the common codes: Err::NotFound("ASSET_NOT_FOUND", "...").
namespace err {
Status Cancelled(std::string reason, std::string message);
Status InvalidArgument(std::string reason, std::string message);
Status NotFound(std::string reason, std::string message);
Status AlreadyExists(std::string reason, std::string message);
Status PermissionDenied(std::string reason, std::string message);
Status ResourceExhausted(std::string reason, std::string message);
Status FailedPrecondition(std::string reason, std::string message);
Status Aborted(std::string reason, std::string message);
Status OutOfRange(std::string reason, std::string message);
Status Unimplemented(std::string reason, std::string message);
Status Internal(std::string reason, std::string message);
Status Unavailable(std::string reason, std::string message);
Status DataLoss(std::string reason, std::string message);
// Offending input as an error message shows it: at most `max_bytes` (cut at a
// UTF-8 character boundary), control characters as '?', and when cut,
// "…(N bytes)" with the full length. Every validator quotes input through it,
// so no input, however long, makes an error too large to travel (gRPC
// refuses response headers over 8 KiB by default).
inline constexpr size_t kEchoBytes = 64;
std::string Echo(std::string_view input, size_t max_bytes = kEchoBytes);
// Maps an errno from a storage syscall to a Status: ENOSPC -> RESOURCE_EXHAUSTED
// STORAGE_FULL, EROFS/EACCES -> FAILED_PRECONDITION/PERMISSION_DENIED, ...
Status FromErrno(int errnum, std::string_view what);
}  // namespace err

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                       // NOLINT
  Result(Status status) : v_(std::move(status)) {}                // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace aifs

#define AIFS_CONCAT_INNER(a, b) a##b
#define AIFS_CONCAT(a, b) AIFS_CONCAT_INNER(a, b)

// Returns early from the enclosing function when `expr` (a Status) fails.
#define AIFS_RETURN_IF_ERROR(expr)          \
  do {                                      \
    ::aifs::Status _aifs_st = (expr);       \
    if (!_aifs_st.ok()) return _aifs_st;    \
  } while (0)

// `AIFS_ASSIGN_OR_RETURN(auto x, Foo());` unwraps a Result or returns its Status.
#define AIFS_ASSIGN_OR_RETURN(lhs, expr) \
  AIFS_ASSIGN_OR_RETURN_IMPL(AIFS_CONCAT(_aifs_res_, __LINE__), lhs, expr)
#define AIFS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
