import { loadModel } from '../load/index.js';
import { DecoderRunner } from '../runtime/decoder.js';
import { fixtureDir, idsTensor, maxAbsDiff, readReference } from './fixtures.js';

/** Full-sequence logits of a fixture model vs its PyTorch reference: max |diff| and the shapes. */
export async function fixtureLogitsDiff(name: string): Promise<{ maxAbs: number; dims: readonly number[]; want: number[] }> {
  const ref = readReference(name);
  const model = loadModel(fixtureDir(name));
  const runner = await DecoderRunner.create(model.graph({ kvCache: false }), { threads: 1 });
  try {
    const out = await runner.run(idsTensor(ref.inputIds), ref.inputIds.length);
    const logits = out.logits;
    return { maxAbs: maxAbsDiff(logits.data as Float32Array, ref.logits), dims: logits.dims, want: ref.logitsShape };
  } finally {
    await runner.release();
  }
}
