import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { tinyGpt2 } from '../testing/random-decoder.js';
import { InputError } from '../util/errors.js';
import { decodeModel } from './read.js';
import { encodeModel } from './write.js';

const bytes = encodeModel(tinyGpt2({ kvCache: false, seed: 1 }));

test('ONNX reader fuzz (1,500 × 2 mutated files, edits biased to the graph structure before the weights): a model or one line naming the file', () => {
  let refused = 0;
  fc.assert(fc.property(fc.array(fc.tuple(fc.oneof(fc.nat(3999), fc.nat(bytes.length - 1)), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(bytes.length), (edits, cut) => {
    const b = Uint8Array.from(bytes);
    for (const [i, v] of edits) b[i] = v;
    for (const x of [b, b.subarray(0, Math.max(1, cut))]) {
      try { decodeModel(x, { file: 'fuzz.onnx' }); } catch (e) {
        assert.ok(e instanceof InputError, `not an InputError: ${(e as Error)?.stack ?? e}`);
        assert.ok(e.message.startsWith('fuzz.onnx: ') && !e.message.includes('\n'), e.message);
        refused++;
      }
    }
  }), { numRuns: 1500, seed: 3 });
  assert.ok(refused > 100, `only ${refused} of 3000 mutated files were refused: the mutations do not reach the parser`);
});
