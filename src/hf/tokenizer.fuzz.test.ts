import { fuzzTest } from '../testing/fuzz-test.js';

fuzzTest('tokenizer.json', 300);
