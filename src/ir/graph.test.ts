import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Builder } from './builder.js';
import { cloneModel, Graph, GraphError, Model } from './graph.js';
import { Tensor } from './tensor.js';

function small(): { g: Graph; b: Builder } {
  const g = new Graph();
  const b = new Builder(g);
  const x = g.addInput('x', { dtype: 'float32', shape: [2, 3] });
  const w = b.weight('w', Tensor.f32([3, 2], [1, 2, 3, 4, 5, 6]));
  const y = b.op('MatMul', [x, w], {}, { name: 'mm' });
  const z = b.op('Relu', [y], {}, { name: 'relu', output: 'z' });
  g.markOutput(z);
  return { g, b };
}

test('use-def chains follow edits', () => {
  const { g, b } = small();
  const y = g.nodes[0].outputs[0];
  assert.equal(y.producer?.name, 'mm');
  assert.deepEqual(y.users().map((n) => n.name), ['relu']);
  const s = b.op('Sigmoid', [y], {}, { name: 'sig' });
  g.replaceAllUses(g.mustValue('z'), s);
  // the graph output keeps its public name
  assert.equal(g.outputs[0], s);
  assert.equal(s.name, 'z');
  g.removeDeadNodes();
  assert.deepEqual(g.nodes.map((n) => n.name), ['mm', 'sig']);
});

test('removing a node that is still used fails and changes nothing', () => {
  const { g } = small();
  assert.throws(() => g.removeNode(g.nodes[0]), GraphError);
  assert.equal(g.nodes.length, 2);
  assert.equal(g.mustValue('w').uses.size, 1);
});

test('topological sort orders producers first and detects nothing wrong in a DAG', () => {
  const { g } = small();
  g.nodes.reverse();
  g.sortTopologically();
  assert.deepEqual(g.nodes.map((n) => n.name), ['mm', 'relu']);
});

test('clone shares tensors but not structure', () => {
  const { g } = small();
  const m = new Model(g);
  const c = cloneModel(m);
  assert.notEqual(c.graph, g);
  assert.equal(c.graph.mustValue('w').constant, g.mustValue('w').constant);
  c.graph.removeUnusedInitializers();
  c.graph.nodes[1].opType = 'Sigmoid';
  assert.equal(g.nodes[1].opType, 'Relu');
});

test('rename refuses a taken name', () => {
  const { g } = small();
  assert.throws(() => g.renameValue(g.mustValue('w'), 'x'), /name taken/);
});
