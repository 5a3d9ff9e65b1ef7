"""PyTorch reference for `quantlab` training throughput: the same GPT-2 (from model.safetensors),
the same batch/sequence, next-token cross-entropy, AdamW with clipping. Prints one JSON line.
Usage: /usr/bin/python3 bench/train_torch.py <model folder> <batch> <seq> <steps> <threads>"""
import json, math, resource, struct, sys, time
import numpy as np
import torch
import torch.nn.functional as F

def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        assert v['dtype'] == 'F32', f'{k}: {v["dtype"]}'
        a, b = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).reshape(v['shape']).copy())
    return out

def main():
    folder, B, T, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    cfg = json.load(open(f'{folder}/config.json'))
    w = read_safetensors(f'{folder}/model.safetensors')
    p = 'transformer.' if 'transformer.wte.weight' in w else ''
    params = {k: t.requires_grad_(True) for k, t in w.items() if not k.endswith('.attn.bias') and not k.endswith('masked_bias') and k != 'lm_head.weight'}
    E, H, L, eps = cfg['n_embd'], cfg['n_head'], cfg['n_layer'], cfg.get('layer_norm_epsilon', 1e-5)
    D = E // H
    def g(n): return params[p + n]
    def forward(ids):
        x = g('wte.weight')[ids] + g('wpe.weight')[torch.arange(T)]
        for i in range(L):
            h = F.layer_norm(x, (E,), g(f'h.{i}.ln_1.weight'), g(f'h.{i}.ln_1.bias'), eps)
            qkv = h @ g(f'h.{i}.attn.c_attn.weight') + g(f'h.{i}.attn.c_attn.bias')
            q, k, v = qkv.split(E, dim=-1)
            q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
            s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
            s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), torch.finfo(torch.float32).min)
            o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, E)
            x = x + o @ g(f'h.{i}.attn.c_proj.weight') + g(f'h.{i}.attn.c_proj.bias')
            h = F.layer_norm(x, (E,), g(f'h.{i}.ln_2.weight'), g(f'h.{i}.ln_2.bias'), eps)
            m = F.gelu(h @ g(f'h.{i}.mlp.c_fc.weight') + g(f'h.{i}.mlp.c_fc.bias'), approximate='tanh')
            x = x + m @ g(f'h.{i}.mlp.c_proj.weight') + g(f'h.{i}.mlp.c_proj.bias')
        x = F.layer_norm(x, (E,), g('ln_f.weight'), g('ln_f.bias'), eps)
        return x @ g('wte.weight').t()
    opt = torch.optim.AdamW(params.values(), lr=1e-5, weight_decay=0.01)
    V = cfg['vocab_size']
    ids = (torch.arange(B * T) * 7919 % V).view(B, T)
    times, losses = [], []
    for s in range(steps):
        t0 = time.perf_counter()
        logits = forward(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    steady = times[1:] if len(times) > 1 else times
    print(json.dumps({'impl': 'pytorch', 'torch': torch.__version__, 'threads': threads, 'batch': B, 'seq': T,
                      'step_s': sorted(steady)[len(steady) // 2], 'tokens_per_s': B * T / sorted(steady)[len(steady) // 2],
                      'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'first_loss': losses[0]}))

main()
