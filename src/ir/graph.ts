import type { DType } from './dtype.js';
import type { Tensor } from './tensor.js';
import { activeSpill } from './spill.js';

export type Dim = number | string;
export interface ValueType { dtype: DType; shape?: Dim[] }

export type Attr =
  | { t: 'int'; v: number }
  | { t: 'float'; v: number }
  | { t: 'string'; v: string }
  | { t: 'ints'; v: number[] }
  | { t: 'floats'; v: number[] }
  | { t: 'strings'; v: string[] }
  | { t: 'tensor'; v: Tensor }
  /** A subgraph (If's branches): its nodes may read values of the enclosing graph by name (`Graph.outer`). */
  | { t: 'graph'; v: Graph };

export interface Use { node: Node; index: number }

/** A named edge of the graph: produced by one node (or a graph input / initializer), used by many. */
export class Value {
  producer: Node | null = null;
  readonly uses = new Set<Use>();
  /** Set when this value is an initializer. */
  constant: Tensor | null = null;
  constructor(public name: string, public type?: ValueType) {}

  get isConstant(): boolean { return this.constant !== null; }

  users(): Node[] { return [...new Set([...this.uses].map((u) => u.node))]; }
}

export class Node {
  readonly inputs: (Value | null)[] = [];
  readonly outputs: Value[] = [];
  constructor(
    public opType: string,
    public name: string,
    public attrs: Record<string, Attr> = {},
    public domain = '',
  ) {}

  attr<T extends Attr['t']>(name: string, t: T): Extract<Attr, { t: T }>['v'] | undefined {
    const a = this.attrs[name];
    if (!a) return undefined;
    if (a.t !== t) throw new Error(`node ${this.name}: attribute ${name} is ${a.t}, expected ${t}`);
    return a.v as never;
  }
}

export class GraphError extends Error {}

/**
 * The in-memory graph with use-def chains. Every edit keeps `producer`/`uses`
 * consistent; edits that would leave a dangling use throw and change nothing.
 */
export class Graph {
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly nodes: Node[] = [];
  private readonly values = new Map<string, Value>();
  private nameCounter = 0;

  constructor(public name = 'main') {}

  value(name: string): Value | undefined { return this.values.get(name); }

  mustValue(name: string): Value {
    const v = this.values.get(name);
    if (!v) throw new GraphError(`no value named '${name}' in graph ${this.name}`);
    return v;
  }

  allValues(): IterableIterator<Value> { return this.values.values(); }

  initializers(): Value[] { return [...this.values.values()].filter((v) => v.constant !== null); }

  /** Bytes of every initializer's elements (from dims and dtype: a lazy tensor is not read). */
  initializerBytes(): number { return this.initializers().reduce((s, v) => s + v.constant!.byteLength, 0); }

  /** A name not yet used in this graph, built from `base`. */
  uniqueName(base: string): string {
    if (!this.values.has(base) && !this.nodes.some((n) => n.name === base)) return base;
    for (;;) {
      const n = `${base}_${++this.nameCounter}`;
      if (!this.values.has(n)) return n;
    }
  }

  private register(v: Value): Value {
    if (this.values.has(v.name)) throw new GraphError(`value '${v.name}' already exists`);
    this.values.set(v.name, v);
    return v;
  }

  addInput(name: string, type: ValueType): Value {
    const v = this.register(new Value(name, type));
    this.inputs.push(v);
    return v;
  }

  addInitializer(name: string, t: Tensor): Value {
    const v = this.register(new Value(name, { dtype: t.dtype, shape: [...t.dims] }));
    // While a large model is quantized, new weights go to disk as they are made (ir/spill.ts).
    v.constant = activeSpill()?.put(t) ?? t;
    return v;
  }

  /**
   * A value of the enclosing graph read by this subgraph's nodes (ONNX outer-scope reference): not an
   * input, initializer or node output here, so the writer declares nothing for it.
   */
  outer(name: string, type?: ValueType): Value {
    return this.values.get(name) ?? this.register(new Value(name, type));
  }

  markOutput(v: Value): void {
    if (!this.outputs.includes(v)) this.outputs.push(v);
  }

  /**
   * Append a node. `outputs` are names of new values (made unique if taken).
   * Nodes are appended; call `sortTopologically` after inserting out of order.
   */
  addNode(opType: string, inputs: (Value | null)[], outputs: string[], opts: { name?: string; attrs?: Record<string, Attr>; domain?: string } = {}): Node {
    const node = new Node(opType, this.uniqueNodeName(opts.name ?? opType), opts.attrs ?? {}, opts.domain ?? '');
    inputs.forEach((v, i) => this.attachInput(node, i, v));
    for (const o of outputs) {
      const v = this.register(new Value(this.uniqueName(o)));
      v.producer = node;
      node.outputs.push(v);
    }
    this.nodes.push(node);
    return node;
  }

  /** Add an output with an exact name to `node` (used when reading a model). */
  adoptOutput(node: Node, name: string): Value {
    const v = this.register(new Value(name || this.uniqueName(`${node.name}_unused`)));
    v.producer = node;
    node.outputs.push(v);
    return v;
  }

  private nodeNames = new Set<string>();
  private uniqueNodeName(base: string): string {
    let n = base;
    for (let i = 1; this.nodeNames.has(n); i++) n = `${base}_${i}`;
    this.nodeNames.add(n);
    return n;
  }

  private attachInput(node: Node, index: number, v: Value | null): void {
    if (v && this.values.get(v.name) !== v) throw new GraphError(`value '${v.name}' is not part of graph ${this.name}`);
    node.inputs[index] = v;
    if (v) v.uses.add({ node, index });
  }

  /** Point input `index` of `node` at `v`. */
  setInput(node: Node, index: number, v: Value | null): void {
    const old = node.inputs[index];
    if (old) for (const u of old.uses) if (u.node === node && u.index === index) old.uses.delete(u);
    this.attachInput(node, index, v);
  }

  /** Every use of `from` (node inputs and graph outputs) now reads `to`. */
  replaceAllUses(from: Value, to: Value): void {
    if (from === to) return;
    for (const u of [...from.uses]) this.setInput(u.node, u.index, to);
    const oi = this.outputs.indexOf(from);
    if (oi >= 0) {
      // Graph outputs keep their public names: the replacement takes the name.
      this.outputs[oi] = to;
      this.renameValue(to, from.name === to.name ? to.name : this.swapName(from, to));
    }
  }

  private swapName(from: Value, to: Value): string {
    const publicName = from.name;
    this.renameValue(from, this.uniqueName(`${publicName}_replaced`));
    return publicName;
  }

  renameValue(v: Value, name: string): void {
    if (v.name === name) return;
    if (this.values.has(name)) throw new GraphError(`cannot rename '${v.name}' to '${name}': name taken`);
    this.values.delete(v.name);
    v.name = name;
    this.values.set(name, v);
  }

  /** Remove a node whose outputs have no users (and are not graph outputs). */
  removeNode(node: Node): void {
    for (const o of node.outputs) {
      if (o.uses.size > 0 || this.outputs.includes(o)) {
        throw new GraphError(`cannot remove node ${node.name}: output '${o.name}' is still used`);
      }
    }
    const i = this.nodes.indexOf(node);
    if (i < 0) throw new GraphError(`node ${node.name} is not in graph ${this.name}`);
    node.inputs.forEach((_, idx) => this.setInput(node, idx, null));
    this.nodes.splice(i, 1);
    this.nodeNames.delete(node.name);
    for (const o of node.outputs) this.values.delete(o.name);
  }

  /** Drop initializers nobody reads. Returns how many were removed. */
  removeUnusedInitializers(): number {
    let n = 0;
    for (const v of this.initializers()) {
      if (v.uses.size === 0 && !this.outputs.includes(v)) { this.values.delete(v.name); n++; }
    }
    return n;
  }

  /** Remove nodes that do not contribute to any graph output. */
  removeDeadNodes(): number {
    let removed = 0;
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      if (node.outputs.every((o) => o.uses.size === 0 && !this.outputs.includes(o))) {
        this.removeNode(node);
        removed++;
      }
    }
    return removed;
  }

  /** Reorder nodes so every producer precedes its users; throws on a cycle. */
  sortTopologically(): void {
    const order: Node[] = [];
    const state = new Map<Node, 1 | 2>();
    const visit = (n: Node): void => {
      const s = state.get(n);
      if (s === 2) return;
      if (s === 1) throw new GraphError(`cycle through node ${n.name}`);
      state.set(n, 1);
      for (const v of n.inputs) if (v?.producer) visit(v.producer);
      state.set(n, 2);
      order.push(n);
    };
    for (const n of this.nodes) visit(n);
    this.nodes.splice(0, this.nodes.length, ...order);
  }
}

export interface OpsetImport { domain: string; version: number }

export class Model {
  opsets: OpsetImport[];
  metadata: Record<string, string> = {};
  producerName = 'quantlab';
  irVersion = 10;
  constructor(public graph: Graph, opsets: OpsetImport[] = [{ domain: '', version: 21 }]) {
    this.opsets = opsets;
  }

  opsetVersion(domain = ''): number | undefined {
    return this.opsets.find((o) => o.domain === domain)?.version;
  }

  requireOpset(domain: string, version: number): void {
    const o = this.opsets.find((x) => x.domain === domain);
    if (!o) this.opsets.push({ domain, version });
    else if (o.version < version) o.version = version;
  }
}

/** Copy a model's structure; tensors are shared (passes replace tensors, never mutate them). */
export function cloneModel(m: Model): Model {
  const g = new Graph(m.graph.name);
  const src = m.graph;
  for (const v of src.inputs) g.addInput(v.name, { ...v.type! });
  for (const v of src.initializers()) g.addInitializer(v.name, v.constant!);
  for (const n of src.nodes) {
    const node = g.addNode(n.opType, n.inputs.map((v) => (v ? g.mustValue(v.name) : null)), [], { name: n.name, attrs: { ...n.attrs }, domain: n.domain });
    for (const o of n.outputs) { const v = g.adoptOutput(node, o.name); v.type = o.type; }
  }
  for (const o of src.outputs) g.markOutput(g.mustValue(o.name));
  const out = new Model(g, m.opsets.map((o) => ({ ...o })));
  out.metadata = { ...m.metadata };
  out.irVersion = m.irVersion;
  out.producerName = m.producerName;
  return out;
}
