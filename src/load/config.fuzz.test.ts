import { fuzzTest } from '../testing/fuzz-test.js';

fuzzTest('config.json', 300);
fuzzTest('safetensors.index.json', 300);
