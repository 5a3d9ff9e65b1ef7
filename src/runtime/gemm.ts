import { Graph, Model } from '../ir/graph.js';
import type { Gemm } from '../quant/linalg.js';
import { createSession, ort, type SessionOptions } from './session.js';

/**
 * A float32 GEMM run by onnxruntime (MLAS, all cores): one MatMul session with symbolic dims,
 * reused for every call. Inputs are wrapped, not copied. Release with `release()`.
 */
export async function ortGemm(opts: SessionOptions = {}): Promise<{ gemm: Gemm; release: () => Promise<void> }> {
  const g = new Graph();
  const a = g.addInput('a', { dtype: 'float32', shape: ['M', 'K'] });
  const b = g.addInput('b', { dtype: 'float32', shape: ['K', 'N'] });
  const c = g.addNode('MatMul', [a, b], ['c'], { name: 'mm' }).outputs[0];
  c.type = { dtype: 'float32', shape: ['M', 'N'] };
  g.markOutput(c);
  const session = await createSession(new Model(g), opts);
  const gemm: Gemm = async (x, m, k, y, n) => {
    const out = await session.run({ a: new ort.Tensor('float32', x, [m, k]), b: new ort.Tensor('float32', y, [k, n]) });
    return out.c.data as Float32Array;
  };
  return { gemm, release: () => session.release() };
}
