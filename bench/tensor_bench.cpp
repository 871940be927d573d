// aifs_tensor_bench: encode / decode throughput of one large float32 tensor
// (default 256 MiB, shape [N/4/8192, 8192]) through the tensor kind, next to
// memcpy of the same bytes measured in the same run (the ceiling).
//
//   aifs_tensor_bench [--size-mib N] [--reps N]
//
// Rows (median of --reps runs each):
//   memcpy                 copy of the values into a reused, pre-faulted buffer
//   memcpy, fresh          the same into a new allocation: what first-touching
//                          fresh memory costs on this machine (page faults)
//   encode                 EncodeTensorIpc into a reused output (capacity kept),
//                          and into a fresh one
//   decode (zero-copy)     DecodeTensorIpc of the stream: verify metadata, no copy
//   decode (copy)          the same stream at a misaligned address, so the values
//                          are copied: into a reused DecodedTensor
//                          (DecodeTensorIpcInto) and into a fresh one
//   validate (streaming)   NewTensorValidator, 1 MiB updates
//   npy -> tensor          NpyToTensorIpc (put --kind tensor x.npy)
//   tensor -> npy          TensorIpcToNpy (get --as npy)
//   group / ungroup        GroupBytes / UngroupBytes, width 2 and 4, in 64 KiB
//                          segments into a reused buffer (the sealer's unit)
// Goals: decode >= 0.5x memcpy, encode >= 0.3x memcpy.
// Prints a markdown table and one JSON line ({"bench":"tensor",...}).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "aifs/kinds/npy.h"
#include "aifs/kinds/tensor.h"
#include "aifs/storage/byte_grouping.h"
#include "bench_util.h"

namespace {

using namespace aifs;
using aifs::bench::MedianSeconds;

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "aifs_tensor_bench: %s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t size_mib = 256;
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--size-mib" && i + 1 < argc) {
      size_mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: aifs_tensor_bench [--size-mib N] [--reps N]\n");
      return 2;
    }
  }
  const int64_t cols = 8192;
  const int64_t rows_dim = std::max<int64_t>(1, static_cast<int64_t>(size_mib << 20) / 4 / cols);
  const std::vector<int64_t> shape = {rows_dim, cols};
  const size_t bytes = static_cast<size_t>(rows_dim * cols * 4);
  const double mib = static_cast<double>(bytes) / (1 << 20);

  Bytes values(bytes);
  for (size_t i = 0; i < bytes / 4; ++i) {
    const float f = static_cast<float>(i % 1000) * 0.001f;
    std::memcpy(values.data() + 4 * i, &f, 4);
  }
  const TensorView view{DType::kFloat32, shape, values};

  Bytes dst(bytes, 1);
  const double t_memcpy = MedianSeconds(reps, [&] { std::memcpy(dst.data(), values.data(), bytes); });

  Bytes ipc;
  Check(EncodeTensorIpc(view, 1, ipc), "encode");  // warm-up: sizes the reused buffer
  const double t_encode = MedianSeconds(reps, [&] { Check(EncodeTensorIpc(view, 1, ipc), "encode"); });

  const double t_decode = MedianSeconds(reps, [&] {
    auto r = DecodeTensorIpc(ipc);
    Check(r.status(), "decode");
    if (!r->zero_copy || r->data.size() != bytes) std::exit(3);
  });

  Bytes shifted(ipc.size() + 1);
  std::memcpy(shifted.data() + 1, ipc.data(), ipc.size());
  const ByteSpan misaligned(shifted.data() + 1, ipc.size());
  const double t_decode_copy = MedianSeconds(reps, [&] {
    auto r = DecodeTensorIpc(misaligned);
    Check(r.status(), "decode (copy)");
    if (r->zero_copy || r->data.size() != bytes) std::exit(3);
  });

  DecodedTensor reused;
  Check(DecodeTensorIpcInto(misaligned, reused), "decode (copy, reused)");
  const double t_decode_reuse = MedianSeconds(reps, [&] {
    Check(DecodeTensorIpcInto(misaligned, reused), "decode (copy, reused)");
    if (reused.zero_copy || reused.data.size() != bytes) std::exit(3);
  });

  // The VM's cost of first-touching fresh memory, for reading the rows that allocate.
  const double t_memcpy_fresh = MedianSeconds(reps, [&] {
    Bytes fresh;
    fresh.reserve(bytes);
    fresh.insert(fresh.end(), values.begin(), values.end());
  });
  const double t_encode_fresh = MedianSeconds(reps, [&] {
    Bytes fresh;
    Check(EncodeTensorIpc(view, 1, fresh), "encode (fresh)");
  });

  const double t_validate = MedianSeconds(reps, [&] {
    auto v = NewTensorValidator();
    for (size_t p = 0; p < ipc.size(); p += 1 << 20)
      Check(v->Update(ByteSpan(ipc).subspan(p, std::min<size_t>(1 << 20, ipc.size() - p))), "validate");
    Check(v->Finish(), "validate");
  });

  Bytes npy, from_npy, to_npy;
  Check(EncodeNpy(DType::kFloat32, shape, values, npy), "npy");
  Check(NpyToTensorIpc(npy, from_npy), "npy -> tensor");
  const double t_npy_in = MedianSeconds(reps, [&] { Check(NpyToTensorIpc(npy, from_npy), "npy -> tensor"); });
  Check(TensorIpcToNpy(ipc, to_npy), "tensor -> npy");
  const double t_npy_out = MedianSeconds(reps, [&] { Check(TensorIpcToNpy(ipc, to_npy), "tensor -> npy"); });
  if (to_npy != npy) {
    std::fprintf(stderr, "aifs_tensor_bench: npy round trip differs\n");
    return 3;
  }

  // Byte grouping as the sealer runs it: one 64 KiB segment at a time.
  Bytes planes, back;
  auto per_segment = [&](uint32_t width, bool group) {
    return MedianSeconds(reps, [&] {
      for (size_t p = 0; p < bytes; p += 65536) {
        const ByteSpan seg = ByteSpan(values).subspan(p, std::min<size_t>(65536, bytes - p));
        if (group)
          GroupBytes(seg, width, planes);
        else
          UngroupBytes(seg, width, back);
      }
    });
  };
  const double t_group2 = per_segment(2, true), t_ungroup2 = per_segment(2, false);
  const double t_group4 = per_segment(4, true), t_ungroup4 = per_segment(4, false);

  struct Row {
    const char* name;
    const char* key;
    double seconds;
  };
  const Row table[] = {
      {"memcpy (ceiling)", "memcpy", t_memcpy},
      {"memcpy into a fresh allocation", "memcpy_fresh", t_memcpy_fresh},
      {"encode (EncodeTensorIpc, reused output)", "encode", t_encode},
      {"encode into a fresh output", "encode_fresh", t_encode_fresh},
      {"decode, zero-copy (DecodeTensorIpc)", "decode_zero_copy", t_decode},
      {"decode, misaligned input: copy, reused buffer (DecodeTensorIpcInto)", "decode_copy_reused",
       t_decode_reuse},
      {"decode, misaligned input: copy into a fresh buffer", "decode_copy_fresh", t_decode_copy},
      {"validate (streaming, 1 MiB updates)", "validate", t_validate},
      {"npy -> tensor (NpyToTensorIpc)", "npy_to_tensor", t_npy_in},
      {"tensor -> npy (TensorIpcToNpy)", "tensor_to_npy", t_npy_out},
      {"byte grouping, width 2 (GroupBytes, 64 KiB segments)", "group2", t_group2},
      {"byte ungrouping, width 2 (UngroupBytes)", "ungroup2", t_ungroup2},
      {"byte grouping, width 4 (GroupBytes, 64 KiB segments)", "group4", t_group4},
      {"byte ungrouping, width 4 (UngroupBytes)", "ungroup4", t_ungroup4},
  };
  std::printf("float32 tensor [%lld, %lld], %.0f MiB, median of %d runs\n\n",
              static_cast<long long>(rows_dim), static_cast<long long>(cols), mib, reps);
  std::printf("| operation | MiB/s | x memcpy |\n|---|---:|---:|\n");
  std::string json = "{\"bench\":\"tensor\",\"bytes\":" + std::to_string(bytes) + ",\"reps\":" + std::to_string(reps);
  for (const Row& r : table) {
    const double rate = mib / r.seconds;
    std::printf("| %s | %.0f | %.2f |\n", r.name, rate, t_memcpy / r.seconds);
    char buf[160];
    std::snprintf(buf, sizeof buf, ",\"%s_mib_s\":%.1f,\"%s_x_memcpy\":%.3f", r.key, rate, r.key, t_memcpy / r.seconds);
    json += buf;
  }
  std::printf("\ngoals: decode >= 0.5x memcpy (%s), encode >= 0.3x memcpy (%s)\n",
              t_memcpy / t_decode >= 0.5 ? "met" : "MISSED", t_memcpy / t_encode >= 0.3 ? "met" : "MISSED");
  std::printf("%s}\n", json.c_str());
  return 0;
}
