// Small POSIX file helpers with Status errors (errno mapped by err::FromErrno).
#pragma once

#include <string>

#include "aifs/core/bytes.h"
#include "aifs/core/status.h"

namespace aifs {

Result<std::string> ReadFileToString(const std::string& path);

// Writes `data` to a temp file beside `path`, fsyncs it, renames it over
// `path` and fsyncs the directory: readers see the old or the new file, never
// a mix, and the new one survives a crash once this returns. A `path` that
// exists and is no regular file (/dev/null, a FIFO, a terminal) cannot be
// replaced and is written in place instead (see IsSpecialFile).
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode = 0644);

// Whether `path` exists and is neither a regular file nor a directory: a
// device, FIFO or socket. Outputs written "beside and renamed into place"
// must write such a path in place: renaming over /dev/null replaces the
// device with a file for every process on the machine.
bool IsSpecialFile(const std::string& path);

// fsyncs the directory `dir` so renames and creations in it survive a crash.
// An empty `dir` is the current directory: the parent_path() of a bare file
// name ("p.json") is "", and that file lives in ".".
Status FsyncDir(const std::string& dir);

// Copies the file `from` to `to` (mode 0600) as WriteFileAtomic writes.
Status CopyFile(const std::string& from, const std::string& to);

// Copies every regular file under `from` into `to` (created, mode 0700; files
// 0600), each as CopyFile does, and fsyncs each directory.
Status CopyTree(const std::string& from, const std::string& to);
Status MakeDirs(const std::string& path, int mode = 0755);

// write(2) until done, retrying EINTR.
Status WriteAll(int fd, ByteSpan data, std::string_view what);

}  // namespace aifs
