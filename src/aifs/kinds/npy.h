// NumPy .npy files (format versions 1.0, 2.0 and 3.0) <-> tensors.
//
// Accepted: magic "\x93NUMPY", a header dict literal with exactly the keys
// 'descr', 'fortran_order' and 'shape'; descr one of b1 i1 i2 i4 i8 u1 u2 u4 u8
// f2 f4 f8 with byte order '<', '|' or '=' (this host is little-endian) or '>'
// (big-endian data is byte-swapped into an owned copy); the data must be
// exactly prod(shape) * itemsize bytes after the header.
// Rejected (INVALID_ARGUMENT):
//   NPY_BAD_MAGIC          not an .npy file / unknown version
//   NPY_BAD_HEADER         header not a well-formed dict literal, or over 1 MiB
//   NPY_UNSUPPORTED_DTYPE  object, string, complex, datetime, structured, ... dtypes
//   NPY_FORTRAN_ORDER      fortran_order=True: we do not transpose; save with
//                          np.ascontiguousarray(a) first
//   NPY_TRUNCATED          fewer data bytes than the shape needs
//   NPY_TRAILING_DATA      bytes after the data
//   TENSOR_SHAPE_OVERFLOW, TENSOR_TOO_MANY_DIMS as in tensor.h
#pragma once

#include <cstdint>
#include <span>

#include "aifs/kinds/tensor.h"

namespace aifs {

// rows = 1 and shape = the array's shape. Zero-copy (data points into `npy`)
// when the data is little-endian and aligned to the element size.
Result<DecodedTensor> ParseNpy(ByteSpan npy);

// Writes format 1.0 with a '<'/'|' descr, fortran_order False, the header
// padded to 64 bytes. bfloat16 has no NumPy dtype: TENSOR_UNSUPPORTED_TYPE
// (TensorIpcToNpy widens it to float32 instead). `out` is replaced.
Status EncodeNpy(DType dtype, std::span<const int64_t> shape, ByteSpan data, Bytes& out);

}  // namespace aifs
