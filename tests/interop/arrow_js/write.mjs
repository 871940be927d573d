// (2) Apache Arrow JS writes, AIFS reads: we build IPC streams with
// apache-arrow (a FixedSizeList<Float32>[6] column carrying the
// arrow.fixed_shape_tensor metadata for shape [2,3], in two record batches;
// and a FixedSizeList<Int64>[4] / Bool[5] single-batch stream), decode them
// with `aifs_tensor_tool read` (DecodeTensorIpc) and compare every value.
// usage: node write.mjs TOOL WORKDIR
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Bool, Field, FixedSizeList, Float32, Int64, RecordBatch, Schema, Struct, Table, makeData,
  tableToIPC, vectorFromArray,
} from 'apache-arrow';
import { check, fail, prod } from './common.mjs';

const [tool, dir] = process.argv.slice(2);
if (!tool || !dir) fail('usage: node write.mjs TOOL WORKDIR');

function tensorField(valueType, shape) {
  const meta = new Map([
    ['ARROW:extension:name', 'arrow.fixed_shape_tensor'],
    ['ARROW:extension:metadata', JSON.stringify({ shape })],
  ]);
  return new Field('tensor', new FixedSizeList(prod(shape), new Field('item', valueType, true)), false, meta);
}

function batch(schema, valueType, values, rows) {
  const child = vectorFromArray(values, valueType).data[0];
  const list = makeData({ type: schema.fields[0].type, length: rows, nullCount: 0, child });
  const struct = makeData({ type: new Struct(schema.fields), length: rows, nullCount: 0, children: [list] });
  return new RecordBatch(schema, struct);
}

function decode(file) {
  const ok = execFileSync(tool, ['validate', file], { encoding: 'utf8' });  // the streaming validator
  check(ok.trim() === 'ok', `${file}: validator said ${ok}`);
  const out = execFileSync(tool, ['read', file], { encoding: 'utf8' });
  return JSON.parse(out);
}

function expectDecoded(name, got, dtype, shape, rows, values) {
  check(got.dtype === dtype, `${name}: dtype ${got.dtype}, expected ${dtype}`);
  check(JSON.stringify(got.shape) === JSON.stringify(shape), `${name}: shape ${JSON.stringify(got.shape)}`);
  check(got.rows === rows, `${name}: rows ${got.rows}, expected ${rows}`);
  check(got.values.length === values.length, `${name}: ${got.values.length} values, expected ${values.length}`);
  values.forEach((v, i) => {
    if (got.values[i] !== v) fail(`${name}: value ${i} = ${got.values[i]}, expected ${v}`);
  });
}

// float32 [2,3]: 2 + 1 rows in two record batches
{
  const shape = [2, 3];
  const schema = new Schema([tensorField(new Float32(), shape)]);
  const all = Array.from({ length: 18 }, (_, i) => i * 0.25 - 1.5);
  const b1 = batch(schema, new Float32(), Float32Array.from(all.slice(0, 12)), 2);
  const b2 = batch(schema, new Float32(), Float32Array.from(all.slice(12)), 1);
  const file = join(dir, 'js_float32_2x3.arrows');
  writeFileSync(file, tableToIPC(new Table(schema, [b1, b2]), 'stream'));
  expectDecoded('float32 [2,3] (2 batches)', decode(file), 'float32', shape, 3, all);
}

// float32 [2,3]: a single batch of 1 row (one tensor)
{
  const shape = [2, 3];
  const schema = new Schema([tensorField(new Float32(), shape)]);
  const vals = [1, 2, 3, 4, 5, 6.5];
  const file = join(dir, 'js_float32_single.arrows');
  writeFileSync(file, tableToIPC(new Table(schema, [batch(schema, new Float32(), Float32Array.from(vals), 1)]), 'stream'));
  expectDecoded('float32 [2,3] (1 row)', decode(file), 'float32', shape, 1, vals);
}

// int64 [2,2] x 2 rows
{
  const shape = [2, 2];
  const schema = new Schema([tensorField(new Int64(), shape)]);
  const vals = [-3, 0, 7, 1e12, 5, -6, 8, 9];
  const file = join(dir, 'js_int64_2x2.arrows');
  const b = batch(schema, new Int64(), BigInt64Array.from(vals.map(BigInt)), 2);
  writeFileSync(file, tableToIPC(new Table(schema, [b]), 'stream'));
  expectDecoded('int64 [2,2]', decode(file), 'int64', shape, 2, vals);
}

// bool [5] x 3 rows (bit-packed by Arrow JS, unpacked by AIFS)
{
  const shape = [5];
  const schema = new Schema([tensorField(new Bool(), shape)]);
  const vals = Array.from({ length: 15 }, (_, i) => (i * 7) % 3 === 1);
  const file = join(dir, 'js_bool_5.arrows');
  writeFileSync(file, tableToIPC(new Table(schema, [batch(schema, new Bool(), vals, 3)]), 'stream'));
  expectDecoded('bool [5]', decode(file), 'bool', shape, 3, vals.map((v) => (v ? 1 : 0)));
}

console.log('write.mjs: 4 apache-arrow streams decoded by AIFS with matching values');
