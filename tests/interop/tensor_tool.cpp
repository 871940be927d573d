// aifs_tensor_tool: a small CLI over the tensor kind, for interop tests with
// other Arrow implementations (tests/interop/test_arrow_js.sh).
//
//   aifs_tensor_tool write DTYPE SHAPE ROWS OUT   e.g. write float32 2,3 4 t.arrows
//       SHAPE "" or "scalar" is []; element i (over all rows, C-order) is
//       bool: i % 3 == 0; signed: i % 100 - 50; unsigned: i % 200;
//       floats (all widths): (i % 97) * 0.5 - 10  (exact in float16/bfloat16)
//   aifs_tensor_tool read IN                      prints the decoded tensor as JSON:
//       {"dtype":..,"shape":[..],"rows":N,"zero_copy":b,"values":[..]}
//   aifs_tensor_tool validate IN                  streaming validator, 4 KiB updates
//   aifs_tensor_tool npy2tensor IN.npy OUT        NpyToTensorIpc
//   aifs_tensor_tool tensor2npy IN OUT.npy        TensorIpcToNpy
// Errors go to stderr as the Status string, exit code 1; usage errors exit 2.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "aifs/kinds/npy.h"
#include "aifs/kinds/tensor.h"

namespace {

using namespace aifs;

bool ReadAll(const char* path, Bytes& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), {});
  return true;
}

bool WriteAll(const char* path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return static_cast<bool>(out);
}

int Fail(const Status& s) {
  std::fprintf(stderr, "aifs_tensor_tool: %s\n", s.ToString().c_str());
  return 1;
}

template <typename T>
void Put(Bytes& b, size_t i, T v) {
  std::memcpy(b.data() + i * sizeof(T), &v, sizeof(T));
}

template <typename T>
T Get(ByteSpan b, size_t i) {
  T v;
  std::memcpy(&v, b.data() + i * sizeof(T), sizeof(T));
  return v;
}

Bytes Generate(DType d, int64_t n) {
  Bytes b(static_cast<size_t>(n) * DTypeSize(d));
  for (int64_t k = 0; k < n; ++k) {
    const size_t i = static_cast<size_t>(k);
    const int64_t s = k % 100 - 50;
    const uint64_t u = static_cast<uint64_t>(k % 200);
    const double f = static_cast<double>(k % 97) * 0.5 - 10;
    switch (d) {
      case DType::kBool: b[i] = k % 3 == 0; break;
      case DType::kInt8: Put<int8_t>(b, i, static_cast<int8_t>(s)); break;
      case DType::kInt16: Put<int16_t>(b, i, static_cast<int16_t>(s)); break;
      case DType::kInt32: Put<int32_t>(b, i, static_cast<int32_t>(s)); break;
      case DType::kInt64: Put<int64_t>(b, i, s); break;
      case DType::kUInt8: Put<uint8_t>(b, i, static_cast<uint8_t>(u)); break;
      case DType::kUInt16: Put<uint16_t>(b, i, static_cast<uint16_t>(u)); break;
      case DType::kUInt32: Put<uint32_t>(b, i, static_cast<uint32_t>(u)); break;
      case DType::kUInt64: Put<uint64_t>(b, i, u); break;
      case DType::kFloat16: Put<uint16_t>(b, i, FloatToHalf(static_cast<float>(f))); break;
      case DType::kBFloat16: {
        const float ff = static_cast<float>(f);
        uint32_t bits;
        std::memcpy(&bits, &ff, 4);
        Put<uint16_t>(b, i, static_cast<uint16_t>(bits >> 16));  // exact for these values
        break;
      }
      case DType::kFloat32: Put<float>(b, i, static_cast<float>(f)); break;
      case DType::kFloat64: Put<double>(b, i, f); break;
    }
  }
  return b;
}

std::string Value(DType d, ByteSpan b, size_t i) {
  char buf[64];
  switch (d) {
    case DType::kBool: return b[i] ? "1" : "0";
    case DType::kInt8: return std::to_string(Get<int8_t>(b, i));
    case DType::kInt16: return std::to_string(Get<int16_t>(b, i));
    case DType::kInt32: return std::to_string(Get<int32_t>(b, i));
    case DType::kInt64: return std::to_string(Get<int64_t>(b, i));
    case DType::kUInt8: return std::to_string(Get<uint8_t>(b, i));
    case DType::kUInt16: return std::to_string(Get<uint16_t>(b, i));
    case DType::kUInt32: return std::to_string(Get<uint32_t>(b, i));
    case DType::kUInt64: return std::to_string(Get<uint64_t>(b, i));
    case DType::kFloat16:
      std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(HalfToFloat(Get<uint16_t>(b, i))));
      return buf;
    case DType::kBFloat16:
      std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(BFloat16ToFloat(Get<uint16_t>(b, i))));
      return buf;
    case DType::kFloat32:
      std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(Get<float>(b, i)));
      return buf;
    case DType::kFloat64:
      std::snprintf(buf, sizeof buf, "%.17g", Get<double>(b, i));
      return buf;
  }
  return "null";
}

int Write(const char* dtype, const std::string& shape_arg, const char* rows_arg, const char* out) {
  auto d = ParseDType(dtype);
  if (!d.ok()) return Fail(d.status());
  std::vector<int64_t> shape;
  if (!shape_arg.empty() && shape_arg != "scalar") {
    size_t p = 0;
    while (p <= shape_arg.size()) {
      size_t q = shape_arg.find(',', p);
      if (q == std::string::npos) q = shape_arg.size();
      shape.push_back(std::stoll(shape_arg.substr(p, q - p)));
      p = q + 1;
    }
  }
  const int64_t rows = std::stoll(rows_arg);
  auto n = ShapeElements(shape);
  if (!n.ok()) return Fail(n.status());
  Bytes values = Generate(*d, *n * rows);
  Bytes ipc;
  Status s = EncodeTensorIpc({*d, shape, values}, rows, ipc);
  if (!s.ok()) return Fail(s);
  if (!WriteAll(out, ipc)) return Fail(err::Internal("IO", std::string("cannot write ") + out));
  return 0;
}

int Read(const char* in) {
  Bytes ipc;
  if (!ReadAll(in, ipc)) return Fail(err::NotFound("IO", std::string("cannot read ") + in));
  auto t = DecodeTensorIpc(ipc);
  if (!t.ok()) return Fail(t.status());
  std::string out = "{\"dtype\":\"" + std::string(DTypeName(t->dtype)) + "\",\"shape\":[";
  for (size_t i = 0; i < t->shape.size(); ++i) out += (i ? "," : "") + std::to_string(t->shape[i]);
  out += "],\"rows\":" + std::to_string(t->rows) + ",\"zero_copy\":" +
         (t->zero_copy ? "true" : "false") + ",\"values\":[";
  const size_t n = t->data.size() / DTypeSize(t->dtype);
  for (size_t i = 0; i < n; ++i) out += (i ? "," : "") + Value(t->dtype, t->data, i);
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

int Validate(const char* in) {
  Bytes ipc;
  if (!ReadAll(in, ipc)) return Fail(err::NotFound("IO", std::string("cannot read ") + in));
  auto v = NewTensorValidator();
  for (size_t p = 0; p < ipc.size(); p += 4096) {
    Status s = v->Update(ByteSpan(ipc).subspan(p, std::min<size_t>(4096, ipc.size() - p)));
    if (!s.ok()) return Fail(s);
  }
  Status s = v->Finish();
  if (!s.ok()) return Fail(s);
  std::printf("ok\n");
  return 0;
}

int Convert(const char* in, const char* out, bool to_tensor) {
  Bytes src, dst;
  if (!ReadAll(in, src)) return Fail(err::NotFound("IO", std::string("cannot read ") + in));
  Status s = to_tensor ? NpyToTensorIpc(src, dst) : TensorIpcToNpy(src, dst);
  if (!s.ok()) return Fail(s);
  if (!WriteAll(out, dst)) return Fail(err::Internal("IO", std::string("cannot write ") + out));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "write" && argc == 6) return Write(argv[2], argv[3], argv[4], argv[5]);
    if (cmd == "read" && argc == 3) return Read(argv[2]);
    if (cmd == "validate" && argc == 3) return Validate(argv[2]);
    if (cmd == "npy2tensor" && argc == 4) return Convert(argv[2], argv[3], true);
    if (cmd == "tensor2npy" && argc == 4) return Convert(argv[2], argv[3], false);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aifs_tensor_tool: %s\n", e.what());
    return 2;
  }
  std::fprintf(stderr,
               "usage: aifs_tensor_tool write DTYPE SHAPE ROWS OUT | read IN | validate IN |\n"
               "       npy2tensor IN.npy OUT | tensor2npy IN OUT.npy\n");
  return 2;
}
