// The FUSE ceiling on this machine: a file system that does no work. One
// read-only file, /data, of SIZE bytes whose reads are answered at once from
// a static buffer, served with the same libfuse settings as `aifs mount`
// (low-level API, multi-threaded loop, 1 MiB kernel read-ahead, keep_cache).
// What fio or cat get from it is what any FUSE file system can get here:
// bench/mount_bench.sh sets the mount's numbers next to it.
//
//   aifs_fuse_null MOUNTPOINT [SIZE_MIB=1024]   (foreground; fusermount3 -u to stop)
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr fuse_ino_t kFile = 2;
constexpr const char* kName = "data";
off_t g_size = off_t{1} << 30;
std::vector<char> g_block(size_t{1} << 20, 'x');  // what every read returns

struct stat StatOf(fuse_ino_t ino) {
  struct stat st {};
  st.st_ino = ino;
  st.st_nlink = 1;
  if (ino == FUSE_ROOT_ID) {
    st.st_mode = S_IFDIR | 0555;
  } else {
    st.st_mode = S_IFREG | 0444;
    st.st_size = g_size;
  }
  return st;
}

void Init(void*, fuse_conn_info* conn) {
  conn->max_readahead = 1 << 20;
  conn->max_read = 0;
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (parent != FUSE_ROOT_ID || std::strcmp(name, kName) != 0)
    return (void)fuse_reply_err(req, ENOENT);
  fuse_entry_param e{};
  e.ino = kFile;
  e.attr = StatOf(kFile);
  e.attr_timeout = e.entry_timeout = 3600;
  fuse_reply_entry(req, &e);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  if (ino != FUSE_ROOT_ID && ino != kFile) return (void)fuse_reply_err(req, ENOENT);
  struct stat st = StatOf(ino);
  fuse_reply_attr(req, &st, 3600);
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (ino != kFile) return (void)fuse_reply_err(req, EISDIR);
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

void Read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info*) {
  if (off >= g_size) return (void)fuse_reply_buf(req, nullptr, 0);
  size = std::min<size_t>({size, static_cast<size_t>(g_size - off), g_block.size()});
  fuse_reply_buf(req, g_block.data(), size);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MOUNTPOINT [SIZE_MIB]\n", argv[0]);
    return 2;
  }
  if (argc > 2) g_size = static_cast<off_t>(std::atoll(argv[2])) << 20;
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.getattr = GetAttr;
  ops.open = Open;
  ops.read = Read;
  char prog[] = "aifs_fuse_null", o[] = "-o", opts[] = "ro,fsname=fuse_null";
  char* fargv[] = {prog, o, opts};
  fuse_args args = FUSE_ARGS_INIT(3, fargv);
  fuse_session* se = fuse_session_new(&args, &ops, sizeof(ops), nullptr);
  if (!se || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, argv[1]) != 0) {
    std::fprintf(stderr, "aifs_fuse_null: cannot mount %s\n", argv[1]);
    return 1;
  }
  std::printf("mounted\n");
  std::fflush(stdout);
  fuse_loop_config config{};
  config.max_idle_threads = 8;  // as aifs mount (MountOptions::threads)
  const int rc = fuse_session_loop_mt(se, &config);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  return rc == 0 ? 0 : 1;
}
