// Fuzzes DecodeEmbed (FlatBuffers verifier + semantic checks) and the .npy
// reader. Properties: no crash or sanitizer report on any input; whatever
// DecodeEmbed accepts re-encodes and decodes to the same record.
#include <cstdint>
#include <cstdlib>

#include "aifs/kinds/embed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const aifs::ByteSpan in(data, size);
  auto rec = aifs::DecodeEmbed(in);
  if (rec.ok()) {
    aifs::Bytes enc;
    aifs::Status st = aifs::EncodeEmbed(*rec, enc);
    if (!st.ok()) {
      // Only size can differ: a FLOAT16 buffer doubles when written as float32.
      if (st.reason() != "EMBED_TOO_LARGE") std::abort();
    } else {
      auto again = aifs::DecodeEmbed(enc);
      if (!again.ok() || !(*again == *rec)) std::abort();
    }
  }
  auto vecs = aifs::EmbedVectorsFromNpy(in);
  if (vecs.ok()) {
    for (const auto& v : *vecs) {
      if (v.empty() || v.size() != vecs->front().size()) std::abort();  // rows of one width >= 1
    }
  }
  return 0;
}
