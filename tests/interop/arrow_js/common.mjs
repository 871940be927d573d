// Shared by read.mjs and write.mjs: the value formula of `aifs_tensor_tool
// write`, dtype <-> Arrow JS type checks, and a loud failure helper.
import { Type, Precision } from 'apache-arrow';

export function fail(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}

export function check(cond, msg) {
  if (!cond) fail(msg);
}

export const prod = (shape) => shape.reduce((a, b) => a * b, 1);

// Element i (over all rows, C-order), exactly as tests/interop/tensor_tool.cpp writes it.
export function expectedValue(dtype, i) {
  if (dtype === 'bool') return i % 3 === 0 ? 1 : 0;
  if (dtype.startsWith('int')) return (i % 100) - 50;
  if (dtype.startsWith('uint')) return i % 200;
  return (i % 97) * 0.5 - 10;  // float16, bfloat16, float32, float64
}

// The Arrow JS type AIFS must have written for each dtype.
export function checkValueType(dtype, t) {
  const ints = { int8: [8, true], int16: [16, true], int32: [32, true], int64: [64, true],
                 uint8: [8, false], uint16: [16, false], uint32: [32, false], uint64: [64, false],
                 bfloat16: [16, false] };
  const floats = { float16: Precision.HALF, float32: Precision.SINGLE, float64: Precision.DOUBLE };
  if (dtype === 'bool') {
    check(t.typeId === Type.Bool, `${dtype}: value type ${t} is not Bool`);
  } else if (dtype in ints) {
    const [bits, signed] = ints[dtype];
    check(t.typeId === Type.Int && t.bitWidth === bits && t.isSigned === signed,
          `${dtype}: value type ${t} is not Int(${bits}, signed=${signed})`);
  } else if (dtype in floats) {
    check(t.typeId === Type.Float && t.precision === floats[dtype],
          `${dtype}: value type ${t} is not Float(precision ${floats[dtype]})`);
  } else {
    fail(`unknown dtype ${dtype}`);
  }
}

// An element as a JS number: bigint -> number, boolean -> 0/1, bfloat16 bits -> float.
export function asNumber(dtype, v) {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (dtype === 'bfloat16') return new Float32Array(new Uint32Array([v << 16]).buffer)[0];
  return v;
}
