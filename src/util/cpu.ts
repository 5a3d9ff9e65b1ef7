import fs from 'node:fs';

/** Kernel-relevant flags from /proc/cpuinfo (Linux): AVX2 vs AVX-512, VNNI (int8 dot products), BF16, AMX. */
export function cpuFeatures(): string[] | undefined {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
    if (!line) return undefined;
    const have = new Set(line.split(':')[1].trim().split(/\s+/));
    return ['avx2', 'fma', 'avx_vnni', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16', 'amx_int8', 'amx_bf16'].filter((f) => have.has(f));
  } catch { return undefined; }
}

/**
 * Whether onnxruntime's u8s8 int8 GEMM runs on VNNI dot products here. Without VNNI it uses AVX2
 * `vpmaddubsw`, whose int16 pair sums saturate for full-range int8 weights (why reduceRange exists).
 */
export function hasVnni(): boolean {
  const f = cpuFeatures() ?? [];
  return f.includes('avx512_vnni') || f.includes('avx_vnni') || f.includes('amx_int8');
}
