import { cloneModel, type Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';

const F32 = 1, F64 = 11;

const widen = (t: Tensor): Tensor => (t.dtype === 'float32' ? new Tensor('float64', [...t.dims], Float64Array.from(t.data as Float32Array)) : t);

/**
 * A float64 copy of a float32 model (initializers, declared types, Cast targets, constant
 * attributes): gradient checks on whole models then measure the rules, not float32 rounding.
 */
export function toFloat64(model: Model): Model {
  const m = cloneModel(model);
  const g = m.graph;
  for (const v of g.allValues()) {
    if (v.constant) v.constant = widen(v.constant);
    if (v.type?.dtype === 'float32') v.type = { ...v.type, dtype: 'float64' };
  }
  for (const n of g.nodes) {
    for (const [k, a] of Object.entries(n.attrs)) {
      if (a.t === 'tensor') n.attrs[k] = { t: 'tensor', v: widen(a.v) };
      if (n.opType === 'Cast' && k === 'to' && a.t === 'int' && a.v === F32) n.attrs[k] = { t: 'int', v: F64 };
    }
  }
  return m;
}
