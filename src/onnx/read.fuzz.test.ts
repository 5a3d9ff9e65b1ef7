import { fuzzTest } from '../testing/fuzz-test.js';

fuzzTest('onnx', 3000, 3);
