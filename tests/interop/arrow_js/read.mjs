// (1) AIFS writes, Apache Arrow JS reads: for each case, `aifs_tensor_tool
// write` produces an IPC stream; we read it with apache-arrow and check the
// column type (FixedSizeList), the arrow.fixed_shape_tensor extension
// metadata, the shape, the row count and every value.
// usage: node read.mjs TOOL WORKDIR
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC, Type } from 'apache-arrow';
import { asNumber, check, checkValueType, expectedValue, fail, prod } from './common.mjs';

const [tool, dir] = process.argv.slice(2);
if (!tool || !dir) fail('usage: node read.mjs TOOL WORKDIR');

const dtypes = ['bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
                'float16', 'bfloat16', 'float32', 'float64'];
const cases = [];
for (const dtype of dtypes) {
  cases.push({ dtype, shape: [2, 3], rows: 3 });
  cases.push({ dtype, shape: [4, 5, 6], rows: 1 });
}
cases.push({ dtype: 'float32', shape: [], rows: 3 });
cases.push({ dtype: 'int32', shape: [1], rows: 1 });
cases.push({ dtype: 'float64', shape: [0], rows: 2 });
cases.push({ dtype: 'bool', shape: [17], rows: 3 });

let checked = 0;
for (const { dtype, shape, rows } of cases) {
  const what = `${dtype} [${shape}] x${rows}`;
  const file = join(dir, `aifs_${dtype}_${shape.join('x') || 'scalar'}_${rows}.arrows`);
  execFileSync(tool, ['write', dtype, shape.join(',') || 'scalar', String(rows), file], { stdio: 'inherit' });
  const table = tableFromIPC(readFileSync(file));
  check(table.schema.fields.length === 1, `${what}: ${table.schema.fields.length} fields`);
  const field = table.schema.fields[0];
  check(field.type.typeId === Type.FixedSizeList, `${what}: column type ${field.type} is not FixedSizeList`);
  check(field.type.listSize === prod(shape), `${what}: list size ${field.type.listSize} != ${prod(shape)}`);
  const extName = field.metadata.get('ARROW:extension:name');
  check(extName === 'arrow.fixed_shape_tensor', `${what}: ARROW:extension:name = ${extName}`);
  const ext = JSON.parse(field.metadata.get('ARROW:extension:metadata'));
  check(JSON.stringify(ext.shape) === JSON.stringify(shape), `${what}: extension shape ${JSON.stringify(ext.shape)}`);
  if (dtype === 'bfloat16') {
    check(field.metadata.get('aifs:dtype') === 'bfloat16', `${what}: aifs:dtype missing`);
  } else {
    check(!field.metadata.has('aifs:dtype'), `${what}: unexpected aifs:dtype`);
  }
  checkValueType(dtype, field.type.children[0].type);
  check(table.numRows === rows, `${what}: ${table.numRows} rows`);
  const col = table.getChildAt(0);
  const n = prod(shape);
  for (let r = 0; r < rows; ++r) {
    const row = col.get(r);
    check(row !== null, `${what}: row ${r} is null`);
    check(row.length === n, `${what}: row ${r} has ${row.length} values`);
    for (let j = 0; j < n; ++j) {
      const got = asNumber(dtype, row.get(j));
      const want = expectedValue(dtype, r * n + j);
      if (got !== want) fail(`${what}: row ${r} value ${j} = ${got}, expected ${want}`);
      ++checked;
    }
  }
}
console.log(`read.mjs: ${cases.length} AIFS streams read by apache-arrow, ${checked} values match`);
