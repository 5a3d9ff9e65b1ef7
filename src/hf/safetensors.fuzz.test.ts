import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { Tensor } from '../ir/tensor.js';
import { InputError } from '../util/errors.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quantlab-fuzz-st-'));
const valid = path.join(dir, 'valid.safetensors');
writeSafetensors(valid, new Map([
  ['a', Tensor.f32([2, 3], [1, 2, 3, 4, 5, 6])],
  ['b', new Tensor('int64', [2], BigInt64Array.of(7n, 8n))],
]), { format: 'pt' });
const bytes = fs.readFileSync(valid);
const hlen = Number(bytes.readBigUInt64LE(0));
const header = JSON.parse(bytes.subarray(8, 8 + hlen).toString('utf8')) as Record<string, Record<string, unknown>>;

/** Read the file and every tensor's data: success, or one InputError line naming the file. */
function outcome(file: string): 'ok' | 'refused' {
  try {
    const st = readSafetensors(file);
    for (const t of st.tensors.values()) void t.data;
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof InputError, `not an InputError: ${(e as Error)?.stack ?? e}`);
    assert.ok(!e.message.includes('\n') && e.message.startsWith(`${file}: `), e.message);
    return 'refused';
  }
}

const withHeader = (h: unknown) => {
  const json = Buffer.from(JSON.stringify(h), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, bytes.subarray(8 + hlen)]);
};

let n = 0;
const check = (buf: Buffer) => {
  const f = path.join(dir, `case-${n++}.safetensors`);
  fs.writeFileSync(f, buf);
  try { return outcome(f); } finally { fs.rmSync(f); }
};

test('safetensors fuzz (400 byte mutations): every outcome is a loaded file or a one-line error naming it', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat(bytes.length), (edits, cut) => {
    const b = Buffer.from(bytes);
    for (const [i, v] of edits) b[i] = v;
    check(b.subarray(0, Math.max(cut, 1)));
    check(b);
  }), { numRuns: 400, seed: 7 });
});

test('safetensors fuzz (400 header-field mutations: any JSON in dtype, shape, data_offsets, entries, metadata)', () => {
  const field = fc.constantFrom('dtype', 'shape', 'data_offsets');
  fc.assert(fc.property(fc.constantFrom('a', 'b', '__metadata__', 'c'), field, fc.jsonValue({ maxDepth: 2 }), (name, key, value) => {
    const h = structuredClone(header) as Record<string, unknown>;
    if (name === '__metadata__' || name === 'c') h[name] = value;
    else (h[name] as Record<string, unknown>)[key] = value;
    check(withHeader(h));
  }), { numRuns: 400, seed: 11 });
});

test('safetensors: overlapping tensors and sizes that overflow are refused by name', () => {
  const overlap = structuredClone(header);
  overlap.b.data_offsets = [0, 16];
  overlap.b.dtype = 'I64';
  assert.equal(check(withHeader(overlap)), 'refused');
  const huge = structuredClone(header);
  huge.a.shape = [2 ** 40, 2 ** 40];
  assert.equal(check(withHeader(huge)), 'refused');
  assert.equal(check(bytes), 'ok');
});
