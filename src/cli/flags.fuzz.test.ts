import { fuzzTest } from '../testing/fuzz-test.js';

fuzzTest('cli-flags', 400);
