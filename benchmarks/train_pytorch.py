#!/usr/bin/python3
"""PyTorch side of benchmarks/train-throughput.mjs: full fine-tuning steps of a GPT-2 checkpoint.

Same work per step as quantlab's Trainer: forward (the reference GPT-2 of
scripts/fixtures/make_tiny_models.py, written from transformers' GPT2LMHeadModel), next-token
cross-entropy, backward, global-norm clipping at 1, AdamW. Prints one JSON line.
Usage: /usr/bin/python3 benchmarks/train_pytorch.py <model folder> <batch> <seq> <steps> <threads>
"""
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'fixtures'))
from make_tiny_models import gpt2_forward  # noqa: E402


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == '__metadata__':
                continue
            if info['dtype'] != 'F32':
                raise SystemExit(f'{path}: {name} is {info["dtype"]}, this benchmark reads F32 only')
            a, b = info['data_offsets']
            f.seek(base + a)
            out[name] = torch.from_numpy(np.frombuffer(f.read(b - a), dtype='<f4').copy()).reshape(info['shape'])
        return out


def blas_in_use():
    # Debian's torch is built against the generic libblas.so.3, which the alternatives system points at
    # OpenBLAS when libopenblas0 is installed (else the slow reference BLAS): read what is mapped.
    with open('/proc/self/maps') as f:
        maps = f.read()
    for name in ('openblas', 'mkl', 'blis'):
        if name in maps:
            return name
    return 'reference (install libopenblas0-pthread for a fair comparison)'


def main():
    folder, batch, seq, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    cfg = json.load(open(os.path.join(folder, 'config.json')))
    raw = read_safetensors(os.path.join(folder, 'model.safetensors'))
    p = {k[len('transformer.'):] if k.startswith('transformer.') else k: v for k, v in raw.items() if not k.endswith('.attn.bias') and not k.endswith('masked_bias')}
    p.pop('lm_head.weight', None)  # tied
    params = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    decay = [v for k, v in params.items() if v.dim() >= 2]
    no_decay = [v for k, v in params.items() if v.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.01}, {'params': no_decay, 'weight_decay': 0.0}], lr=1e-5)
    g = torch.Generator().manual_seed(0)
    times = []
    for step in range(steps + 1):  # step 0 is warm-up
        ids = torch.randint(0, cfg['vocab_size'], (batch, seq), generator=g)
        t0 = time.perf_counter()
        logits = gpt2_forward(cfg, params, ids)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()
        if step > 0:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({
        'framework': f'pytorch {torch.__version__}', 'blas': blas_in_use(),
        'threads': threads, 'batch': batch, 'seq': seq, 'steps': steps,
        'step_s_median': med, 'tokens_per_s': batch * seq / med,
        'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == '__main__':
    main()
