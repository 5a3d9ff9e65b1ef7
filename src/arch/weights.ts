import { toFloat32 } from '../hf/safetensors.js';
import { Tensor } from '../ir/tensor.js';
import { InputError } from '../util/errors.js';

/** Named checkpoint tensors, checked for presence and shape and converted to float32 on access. */
export class WeightSource {
  private used = new Set<string>();
  constructor(private tensors: Map<string, Tensor>, private file: string) {}

  has(name: string): boolean { return this.tensors.has(name); }

  get(name: string, shape: number[]): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new InputError(this.file, `missing tensor '${name}'`);
    if (t.dims.length !== shape.length || t.dims.some((d, i) => d !== shape[i])) {
      throw new InputError(this.file, `tensor '${name}' has shape [${t.dims}], expected [${shape}]`);
    }
    this.used.add(name);
    try { return toFloat32(t); } catch { throw new InputError(this.file, `tensor '${name}' is ${t.dtype}, expected a float type`); }
  }

  /** A [out, in] nn.Linear weight, returned as [in, out] for MatMul. */
  getTransposed(name: string, shape: [number, number]): Tensor {
    const t = this.get(name, shape);
    const [r, c] = shape;
    const src = t.data as Float32Array;
    const out = new Float32Array(r * c);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j];
    return new Tensor('float32', [c, r], out);
  }

  /** Whether two names hold the same values (a tied head saved twice). */
  sameAs(a: string, b: string): boolean {
    const x = this.tensors.get(a), y = this.tensors.get(b);
    if (!x || !y || x.dtype !== y.dtype || x.size !== y.size) return false;
    if (x.data === y.data) return true;
    const xb = x.bytes(), yb = y.bytes();
    for (let i = 0; i < xb.length; i++) if (xb[i] !== yb[i]) return false;
    return true;
  }
}

export function requireNumber(c: Record<string, unknown>, k: string, file: string, dflt?: number): number {
  const v = c[k] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(file, `missing or invalid '${k}'`);
  return v;
}
