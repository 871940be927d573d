// Fuzzes the tensor decoders: DecodeTensorIpc, the streaming validator (at
// split points derived from the input), ParseNpy and ParseSafetensors.
// Properties checked beyond "no crash / no sanitizer report":
//  - the validator and DecodeTensorIpc agree (both OK or the same reason);
//  - a decoded tensor's data has exactly rows * prod(shape) elements and every
//    byte of it is readable;
//  - whatever decodes re-encodes and decodes to the same values.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "aifs/kinds/npy.h"
#include "aifs/kinds/safetensors.h"
#include "aifs/kinds/tensor.h"

namespace {

using namespace aifs;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fuzz_tensor: property violated: %s\n", what);
  std::abort();
}

uint8_t Touch(ByteSpan b) {
  uint8_t x = 0;
  for (uint8_t v : b) x ^= v;
  return x;
}

void CheckShape(const DecodedTensor& t) {
  auto bytes = TensorBytes(t.dtype, t.shape, t.rows);
  if (!bytes.ok() || *bytes != t.data.size()) Die("data size != rows * prod(shape) * size");
  volatile uint8_t sink = Touch(t.data);
  (void)sink;
}

bool SameBytes(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

void FuzzIpc(ByteSpan in) {
  auto r = DecodeTensorIpc(in);
  // split points from a cheap hash of the input, so each input is deterministic
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < in.size() && i < 64; ++i) h = (h ^ in[i]) * 1099511628211ull;
  auto v = NewTensorValidator();
  Status vs;
  size_t pos = 0;
  while (vs.ok() && pos < in.size()) {
    h = h * 6364136223846793005ull + 1442695040888963407ull;
    const size_t step = 1 + (h >> 33) % (in.size() - pos < 97 ? in.size() - pos : 97);
    vs = v->Update(in.subspan(pos, step));
    pos += step;
  }
  if (vs.ok()) vs = v->Finish();
  if (r.ok() != vs.ok() || r.status().reason() != vs.reason()) Die("validator != decoder");
  if (!r.ok()) return;
  CheckShape(*r);
  Bytes again;
  if (!EncodeTensorIpc(r->view(), r->rows, again).ok()) Die("decoded tensor does not re-encode");
  auto r2 = DecodeTensorIpc(again);
  if (!r2.ok() || r2->dtype != r->dtype || r2->shape != r->shape || r2->rows != r->rows) Die("re-decode");
  if (!SameBytes(r2->data, r->data)) Die("values changed");  // decoded bools are already 0/1
}

void FuzzNpy(ByteSpan in) {
  auto r = ParseNpy(in);
  if (!r.ok()) return;
  CheckShape(*r);
  if (r->dtype == DType::kBool) return;  // npy bools need not be 0/1; we pass them through
  Bytes out;
  if (!EncodeNpy(r->dtype, r->shape, r->data, out).ok()) Die("npy does not re-encode");
  auto r2 = ParseNpy(out);
  if (!r2.ok() || r2->shape != r->shape || !SameBytes(r2->data, r->data)) Die("npy round trip");
}

void FuzzSafetensors(ByteSpan in) {
  auto r = ParseSafetensors(in);
  if (!r.ok()) return;
  std::vector<std::pair<std::string, TensorView>> views;
  for (const auto& e : r->tensors) {
    CheckShape(e.tensor);
    views.emplace_back(e.name, e.tensor.view());
  }
  Bytes out;
  if (!EncodeSafetensors(views, r->metadata, out).ok()) return;  // e.g. names that are not UTF-8
  auto r2 = ParseSafetensors(out);
  if (!r2.ok() || r2->tensors.size() != r->tensors.size() || r2->metadata != r->metadata)
    Die("safetensors round trip");
  for (size_t i = 0; i < r->tensors.size(); ++i) {
    if (!SameBytes(r2->tensors[i].tensor.data, r->tensors[i].tensor.data)) Die("tensor bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteSpan in(data, size);
  FuzzIpc(in);
  FuzzNpy(in);
  FuzzSafetensors(in);
  return 0;
}
