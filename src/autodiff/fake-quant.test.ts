import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AttrInput, Builder } from '../ir/builder.js';
import { Graph, Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { createSession, ort } from '../runtime/session.js';
import { buildGradientGraph } from './engine.js';

// Fake quantization y = DequantizeLinear(QuantizeLinear(x, s, zp), s, zp) is piecewise constant in x,
// so finite differences say nothing; its gradients are checked against the straight-through
// estimator (dy/dx = 1 inside the range, 0 where clipped) and LSQ's scale gradient
// (round(x/s) - x/s inside, qmin - zp or qmax - zp where clipped), written out here.

const rne = (v: number) => { const f = Math.floor(v), d = v - f; return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1; };

interface FqCase { label: string; dims: number[]; qtype: 'int8' | 'uint8'; scales: number[]; zps: number[]; axis?: number }

function rand(seed: number) { let s = seed; return () => { s = (s * 1103515245 + 12345) % 2 ** 31; return s / 2 ** 31; }; }

for (const c of [
  { label: 'int8 per tensor, zero point 3', dims: [4, 5], qtype: 'int8', scales: [0.05], zps: [3] },
  { label: 'uint8 per tensor, zero point 128', dims: [3, 6], qtype: 'uint8', scales: [0.04], zps: [128] },
  { label: 'int8 per channel (axis 1), symmetric', dims: [4, 3], qtype: 'int8', scales: [0.02, 0.05, 0.08], zps: [0, 0, 0], axis: 1 },
] as FqCase[]) {
  test(`fake-quant gradients follow the STE and LSQ: ${c.label}`, async () => {
    const g = new Graph('fq');
    const b = new Builder(g);
    const n = c.dims.reduce((a, d) => a * d, 1);
    const r = rand(n + c.scales.length);
    // Values reaching well past the clipping range of every channel.
    const xs = Float32Array.from({ length: n }, () => (r() * 2 - 1) * 12);
    const ws = Float32Array.from({ length: n }, () => r() * 2 - 1);
    const perAxis = c.axis !== undefined;
    const x = g.addInput('x', { dtype: 'float32', shape: c.dims });
    const s = b.weight('scale', Tensor.f32(perAxis ? [c.scales.length] : [], c.scales));
    const zpT = c.qtype === 'int8' ? new Tensor('int8', perAxis ? [c.zps.length] : [], Int8Array.from(c.zps)) : new Tensor('uint8', perAxis ? [c.zps.length] : [], Uint8Array.from(c.zps));
    const zp = b.weight('zp', zpT);
    const attrs: Record<string, AttrInput> = perAxis ? { axis: c.axis! } : {};
    const y = b.op('DequantizeLinear', [b.op('QuantizeLinear', [x, s, zp], attrs), s, zp], attrs);
    const loss = b.op('ReduceSum', [b.op('Mul', [y, b.weight('w', Tensor.f32(c.dims, ws))])], { keepdims: 0 }, { output: 'loss' });
    loss.type = { dtype: 'float32', shape: [] };
    g.markOutput(loss);
    const sess = await createSession(buildGradientGraph(new Model(g), { loss: 'loss', wrt: ['x', 'scale'] }), { threads: 1 });
    const out = await sess.run({ x: new ort.Tensor('float32', xs, c.dims) });
    await sess.release();

    const [lo, hi] = c.qtype === 'int8' ? [-128, 127] : [0, 255];
    const cols = c.dims[1];
    const gx = new Float64Array(n), gs = new Float64Array(c.scales.length);
    let lossRef = 0, clipped = 0;
    for (let i = 0; i < n; i++) {
      const k = perAxis ? i % cols : 0;
      const sc = c.scales[k], z = c.zps[k];
      const v = Math.fround(xs[i] / sc);
      const q = rne(v) + z;
      const inside = q >= lo && q <= hi;
      const qc = Math.min(hi, Math.max(lo, q));
      lossRef += ws[i] * sc * (qc - z);
      gx[i] = inside ? ws[i] : 0;
      gs[k] += ws[i] * (inside ? rne(v) - v : qc - z);
      if (!inside) clipped++;
    }
    assert.ok(clipped > 0 && clipped < n, `the case should clip some values (${clipped} of ${n})`);
    assert.ok(Math.abs(Number(out.loss.data[0]) - lossRef) < 1e-4 * Math.max(1, Math.abs(lossRef)));
    // g·s/s: exact up to float32 rounding; exactly zero where clipped.
    (out['grad.x'].data as Float32Array).forEach((v, i) => assert.ok(gx[i] === 0 ? v === 0 : Math.abs(v - gx[i]) < 1e-6, `x[${i}]: ${v} vs ${gx[i]}`));
    const got = out['grad.scale'].data as Float32Array;
    assert.equal(got.length, c.scales.length);
    got.forEach((v, k) => assert.ok(Math.abs(v - gs[k]) < 1e-4 * Math.max(1, Math.abs(gs[k])), `scale ${k}: ${v} vs ${gs[k]}`));
  });
}
