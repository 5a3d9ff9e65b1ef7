import type * as ort from 'onnxruntime-node';
import { perplexity } from './eval/perplexity.js';
import { registerPassEngine, type PassEngine, type RunTensor } from './passes/engine.js';
import { DecoderRunner } from './runtime/decoder.js';
import { ortGemm } from './runtime/gemm.js';
import { Trainer } from './train/trainer.js';

/** The passes' engine on onnxruntime (runtime/), eval/ and train/; registered on import. */
export const onnxEngine: PassEngine = {
  async open(model, session) {
    const runner = await DecoderRunner.create(model, session);
    return {
      async run(ids, batch, outputs, extra = {}) {
        // `extra` holds tensors an earlier run returned: onnxruntime tensors already.
        const out = await runner.run(ids, batch, extra as unknown as Record<string, ort.Tensor>, outputs);
        return Object.fromEntries(outputs.map((n) => [n, out[n] as unknown as RunTensor]));
      },
      release: () => runner.release(),
    };
  },
  gemm: (session) => ortGemm(session),
  perplexity: async (model, tokens, ctx, session) => (await perplexity(model, tokens, { ctx, stride: ctx, batchSize: 1, session })).perplexity,
  fineTuner: (model, opts) => Trainer.create(model, opts),
};

registerPassEngine(onnxEngine);
