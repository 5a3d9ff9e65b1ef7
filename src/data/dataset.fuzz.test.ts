import { fuzzTest } from '../testing/fuzz-test.js';

fuzzTest('dataset', 300);
