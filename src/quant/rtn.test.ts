import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gaussian } from '../testing/random-decoder.js';
import { nbitsBytes, packNBits, unpackNBits } from './nbits-pack.js';
import { dequantizeBlocks, rtnQuantize } from './rtn.js';

// K = 96 with block 32 gives 3 blocks per row: an odd count, so 4-bit zero points pad each row's last byte.
const N = 5, K = 96;
const rows = gaussian(N * K, 1, 42);
rows[7] = 9; // an outlier inside block 0 of row 0

for (const bits of [4, 8] as const) {
  for (const symmetric of [true, false]) {
    test(`${bits}-bit ${symmetric ? 'sym' : 'asym'}: pack → unpack is exact and sizes match the layout`, () => {
      const q = rtnQuantize(rows, N, K, { bits, blockSize: 32, symmetric });
      const t = packNBits(q);
      assert.deepEqual(t.b.dims, [N, 3, (32 * bits) / 8]);
      assert.deepEqual(t.scales.dims, [N, 3]);
      assert.equal(t.zeroPoints === null, symmetric);
      if (t.zeroPoints) assert.deepEqual(t.zeroPoints.dims, [N, bits === 4 ? 2 : 3]);
      const total = t.b.byteLength + t.scales.byteLength + (t.zeroPoints?.byteLength ?? 0);
      assert.equal(total, nbitsBytes(N, K, bits, 32, symmetric));
      const u = unpackNBits(t, bits, K);
      assert.deepEqual(u.codes, q.codes);
      assert.deepEqual(u.zeroPoints, q.zeroPoints);
      // Low nibble first: byte 0 of row 0 holds codes 0 (low) and 1 (high).
      if (bits === 4) assert.equal((t.b.data as Uint8Array)[0], q.codes[0] | (q.codes[1] << 4));
    });

    test(`${bits}-bit ${symmetric ? 'sym' : 'asym'}: RTN error is at most half a step (one step for the clamped symmetric edge)`, () => {
      const q = rtnQuantize(rows, N, K, { bits, blockSize: 32, symmetric });
      const dq = dequantizeBlocks(q);
      for (let i = 0; i < N * K; i++) {
        const s = Math.abs(q.scales[Math.floor(i / 32)]);
        // Symmetric full range: -m maps to +2^(b-1), one past the top code, and clamps (error ≤ 1 step).
        const bound = (symmetric ? 1 : 0.5) * s * (1 + 1e-6) + 1e-7;
        assert.ok(Math.abs(dq[i] - rows[i]) <= bound, `element ${i}: ${dq[i]} vs ${rows[i]} (step ${s})`);
      }
      if (symmetric) {
        // The block's largest magnitude is exact (it defines the scale), e.g. the outlier 9.
        assert.equal(dq[7], Math.fround(9));
        assert.ok(q.codes.every((c) => c < 2 ** bits));
      }
    });
  }
}
