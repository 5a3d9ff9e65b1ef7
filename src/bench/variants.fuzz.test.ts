import { fuzzTest } from '../testing/fuzz-test.js';

fuzzTest('quantlab.json', 300);
