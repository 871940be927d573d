#include "aifs/core/status.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace aifs {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kCancelled: return "CANCELLED";
    case Code::kUnknown: return "UNKNOWN";
    case Code::kInvalidArgument: return "INVALID_ARGUMENT";
    case Code::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case Code::kNotFound: return "NOT_FOUND";
    case Code::kAlreadyExists: return "ALREADY_EXISTS";
    case Code::kPermissionDenied: return "PERMISSION_DENIED";
    case Code::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case Code::kFailedPrecondition: return "FAILED_PRECONDITION";
    case Code::kAborted: return "ABORTED";
    case Code::kOutOfRange: return "OUT_OF_RANGE";
    case Code::kUnimplemented: return "UNIMPLEMENTED";
    case Code::kInternal: return "INTERNAL";
    case Code::kUnavailable: return "UNAVAILABLE";
    case Code::kDataLoss: return "DATA_LOSS";
    case Code::kUnauthenticated: return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(CodeName(code_));
  s += ' ';
  s += reason_;
  s += ": ";
  s += message_;
  return s;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, reason_, std::string(context) + ": " + message_);
}

namespace err {

std::string Echo(std::string_view input, size_t max_bytes) {
  size_t cut = std::min(input.size(), max_bytes);
  if (cut < input.size())  // back up to a character boundary (no split UTF-8 sequence)
    while (cut > 0 && (static_cast<unsigned char>(input[cut]) & 0xc0) == 0x80) --cut;
  std::string out;
  out.reserve(cut + 24);
  for (char c : input.substr(0, cut))
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (cut < input.size()) out += "\u2026(" + std::to_string(input.size()) + " bytes)";
  return out;
}

#define AIFS_DEFINE_ERR(Name, CodeValue)                   \
  Status Name(std::string reason, std::string message) {   \
    return Status(CodeValue, std::move(reason), std::move(message)); \
  }
AIFS_DEFINE_ERR(Cancelled, Code::kCancelled)
AIFS_DEFINE_ERR(InvalidArgument, Code::kInvalidArgument)
AIFS_DEFINE_ERR(NotFound, Code::kNotFound)
AIFS_DEFINE_ERR(AlreadyExists, Code::kAlreadyExists)
AIFS_DEFINE_ERR(PermissionDenied, Code::kPermissionDenied)
AIFS_DEFINE_ERR(ResourceExhausted, Code::kResourceExhausted)
AIFS_DEFINE_ERR(FailedPrecondition, Code::kFailedPrecondition)
AIFS_DEFINE_ERR(Aborted, Code::kAborted)
AIFS_DEFINE_ERR(OutOfRange, Code::kOutOfRange)
AIFS_DEFINE_ERR(Unimplemented, Code::kUnimplemented)
AIFS_DEFINE_ERR(Internal, Code::kInternal)
AIFS_DEFINE_ERR(Unavailable, Code::kUnavailable)
AIFS_DEFINE_ERR(DataLoss, Code::kDataLoss)
#undef AIFS_DEFINE_ERR

Status FromErrno(int errnum, std::string_view what) {
  std::string msg = std::string(what) + ": " + std::strerror(errnum);
  switch (errnum) {
    case ENOSPC:
    case EDQUOT:
      return ResourceExhausted("STORAGE_FULL", std::move(msg));
    case EROFS:
      return FailedPrecondition("STORAGE_READ_ONLY", std::move(msg));
    case EACCES:
    case EPERM:
      return PermissionDenied("STORAGE_ACCESS_DENIED", std::move(msg));
    case ENOENT:
      return NotFound("FILE_NOT_FOUND", std::move(msg));
    case EISDIR:
    case ENOTDIR:
    case ENAMETOOLONG:
      return InvalidArgument("BAD_PATH", std::move(msg));
    case EIO:
      return DataLoss("STORAGE_IO_ERROR", std::move(msg));
    default:
      return Internal("STORAGE_ERROR", std::move(msg));
  }
}
}  // namespace err

}  // namespace aifs
