// Peak RSS of static-int8 calibration against the number of windows (memory must stay flat).
// Usage: node benchmarks/calib-memory.mjs <model> <windows> [method]
import { loadModel } from '../dist/index.js';
import { prepareStaticInt8, staticInt8Defaults } from '../dist/passes/static-int8.js';

const [modelPath, windows, method = 'entropy'] = process.argv.slice(2);
const lm = loadModel(modelPath);
const graph = lm.graph({ kvCache: true });
const before = process.resourceUsage().maxRSS * 1024;
const t0 = performance.now();
const p = await prepareStaticInt8(graph, { ...staticInt8Defaults, calibWindows: Number(windows), calibMethod: method }, { explain: () => {}, tokenizer: lm.tokenizer, session: { threads: 1 } });
const peak = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({ windows: Number(windows), method, tensors: p.ranges.size, seconds: +((performance.now() - t0) / 1000).toFixed(1),
  rss_before_mib: +(before / 2 ** 20).toFixed(1), peak_rss_mib: +(peak / 2 ** 20).toFixed(1) }));
