import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzTest } from '../testing/fuzz-test.js';
import { readSafetensorsBytes, withSafetensorsHeader } from '../testing/fuzz.js';

fuzzTest('safetensors-bytes', 400, 7);
fuzzTest('safetensors-header', 400, 11);

test('safetensors: overlapping tensors and sizes that overflow are refused by name', () => {
  const header = { __metadata__: { format: 'pt' }, a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] }, b: { dtype: 'I64', shape: [2], data_offsets: [24, 40] } };
  assert.equal(readSafetensorsBytes(withSafetensorsHeader(header)), 'ok');
  assert.equal(readSafetensorsBytes(withSafetensorsHeader({ ...header, b: { ...header.b, data_offsets: [0, 16] } })), 'refused');
  assert.equal(readSafetensorsBytes(withSafetensorsHeader({ ...header, a: { ...header.a, shape: [2 ** 40, 2 ** 40] } })), 'refused');
});
