import { UsageError } from '../util/errors.js';

/** One method application: a registered method kind and the config fields that differ from its defaults. */
export interface MethodStep { kind: string; config?: Record<string, unknown> }

/**
 * A transformers.js dtype: the file suffix the library looks for (DEFAULT_DTYPE_SUFFIX_MAPPING in
 * @huggingface/transformers src/utils/dtypes.js) and the quantlab methods that make that file,
 * applied in order to the FP32 KV-cache graph.
 */
export interface DtypeSpec {
  dtype: string;
  suffix: string;
  steps: MethodStep[];
  summary: string;
}

const INT4_EXPORT = { blockFallback: true };

/** Every dtype quantlab can write, in output order. */
export const TJS_DTYPES: readonly DtypeSpec[] = [
  { dtype: 'fp32', suffix: '', steps: [], summary: 'float32 weights and activations' },
  { dtype: 'fp16', suffix: '_fp16', steps: [{ kind: 'fp16', config: { compute: 'half' } }], summary: 'float16 weights and compute (FP32 for fragile ops)' },
  // transformers.js q8 (model_quantized.onnx) is dynamic int8: int8 weights, activations quantized at run time.
  { dtype: 'q8', suffix: '_quantized', steps: [{ kind: 'dynamic-int8' }], summary: 'dynamic int8, symmetric int8 weights per channel' },
  // transformers.js only picks the file by suffix; quantlab's int8 file is static (calibrated) int8, see its .quantlab.json.
  { dtype: 'int8', suffix: '_int8', steps: [{ kind: 'static-int8' }], summary: 'static int8 (QDQ), activation ranges calibrated on text (opt-in: calibration runs the model)' },
  { dtype: 'uint8', suffix: '_uint8', steps: [{ kind: 'dynamic-int8', config: { symmetric: false } }], summary: 'dynamic int8, asymmetric uint8 weights per channel' },
  // Block 32, or the largest power of two ≥ 16 dividing K where 32 does not (e.g. hidden 48): the export
  // has no block option, and a failed q4 file for such a model helps no one (each fallback is in --verbose).
  { dtype: 'q4', suffix: '_q4', steps: [{ kind: 'int4-weight', config: INT4_EXPORT }], summary: '4-bit block weights (MatMulNBits), float32 compute' },
  // int4 first: fp16 then converts the remaining float compute around MatMulNBits (the other order gives a mistyped graph).
  { dtype: 'q4f16', suffix: '_q4f16', steps: [{ kind: 'int4-weight', config: INT4_EXPORT }, { kind: 'fp16', config: { compute: 'half' } }], summary: '4-bit block weights, float16 compute elsewhere' },
];

/** What `--dtypes` means when it is not given. */
export const DEFAULT_DTYPES = ['fp32', 'fp16', 'q8', 'q4'];

export function dtypeSpec(dtype: string): DtypeSpec {
  const s = TJS_DTYPES.find((d) => d.dtype === dtype);
  if (!s) throw new UsageError(`unknown transformers.js dtype '${dtype}' (quantlab writes: ${TJS_DTYPES.map((d) => d.dtype).join(', ')})`);
  return s;
}

/** Parse a comma-separated --dtypes list (duplicates dropped, order kept). */
export function parseDtypes(list: string | undefined): DtypeSpec[] {
  const names = list === undefined ? DEFAULT_DTYPES : list.split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length) throw new UsageError('--dtypes is empty');
  return [...new Set(names)].map(dtypeSpec);
}

/** onnx/model{suffix}.onnx: the file transformers.js loads for this dtype. */
export const modelFileName = (spec: DtypeSpec): string => `model${spec.suffix}.onnx`;
