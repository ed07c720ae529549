#!/usr/bin/env python3
"""Times the PyTorch reference samplers of TarFlow on one CPU thread.

    python3 reference_bench.py --tarflow <ml-tarflow checkout> [--gs-jacobi <GS-Jacobi_for_TarFlow checkout>]
                               --checkpoint model.safetensors [--inputs noise.safetensors] [--out-samples out.safetensors]

The model code is imported from the checkouts at run time (nothing of it is
copied here): apple/ml-tarflow's transformer_flow.Model for the exact
sequential (KV-cache) inverse, and the GS-Jacobi paper's
GS_Jacobi_sampling.Model for its Jacobi and GS-Jacobi inverses. The
checkpoint is one of ours (safetensors with the config in its metadata); its
tensor names are the reference's, so it loads as a state_dict.

Sampling semantics (the reference's, as the fixtures record them):

    x = noise · temperature · √var,   then each block in reverse order
    x[t+1] = x[t+1] · exp(α_t) + γ_t,  (α, γ) ← p_c + w · (p_c − p_u)  on both

with w the guidance scale (not annealed) and attention temperature 1 for the
unconditional branch. `--inputs` gives the noise and labels per batch size
(noise_b{B} [B, T, D] float32, labels_b{B} [B] int32), so both sides sample
the same latents; without it the noise is torch.randn with seed 0.

Per batch: the median of `--repeats` timed runs after one warm-up, for
  sequential  ml-tarflow Model.reverse (guide_what 'ab')
  gs_seq      the GS-Jacobi code's sequential mode (num_GS 0), the baseline of its pass cost
  jacobi      its plain Jacobi, `--jacobi-iters` iterations per block (ebound < 0: no early stop)
  gsj         its GS-Jacobi with the strategy of `--gsj` (JSON lists num_gs, max_jacobi, guess
              per block in sampling order; ebound < 0)
Prints one JSON object. torch older than 2.0 lacks scaled_dot_product_attention;
the script then supplies the math the reference calls (softmax(q kᵀ · scale) v).
"""
import argparse
import importlib
import json
import statistics
import struct
import sys
import time

import torch

DTYPES = {'F32': (torch.float32, 4), 'I32': (torch.int32, 4), 'I64': (torch.int64, 8)}
TORCH_TO_ST = {torch.float32: 'F32', torch.int32: 'I32', torch.int64: 'I64'}


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file: 8-byte header length, JSON header, raw little-endian data."""
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop('__metadata__', {}) or {}
    tensors = {}
    for name, info in header.items():
        dtype, size = DTYPES[info['dtype']]
        begin, end = info['data_offsets']
        count = (end - begin) // size
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype, count=count) if count else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info['shape'])
    return tensors, meta


def write_safetensors(path, tensors, meta=None):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().tobytes()
        header[name] = {'dtype': TORCH_TO_ST[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if meta:
        header['__metadata__'] = meta
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def ensure_sdpa():
    """Whether the math of scaled_dot_product_attention had to be supplied (torch < 2.0)."""
    F = torch.nn.functional
    if hasattr(F, 'scaled_dot_product_attention'):
        return False

    def sdpa(q, k, v, attn_mask=None, scale=None):
        s = (q @ k.transpose(-2, -1)) * (q.size(-1) ** -0.5 if scale is None else scale)
        if attn_mask is not None:
            s = s.masked_fill(~attn_mask, float('-inf')) if attn_mask.dtype == torch.bool else s + attn_mask
        return s.softmax(dim=-1) @ v

    F.scaled_dot_product_attention = sdpa
    return True


def import_from(path, module):
    sys.path.insert(0, path)
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(path)


def build(module, config, state, **extra):
    c = config
    if c.get('head_dim', 64) != 64 or c.get('expansion', 4) != 4:
        raise SystemExit('the reference models fix head_dim 64 and expansion 4; this checkpoint differs')
    model = module.Model(
        in_channels=c['in_channels'], img_size=c['img_size'], patch_size=c['patch_size'], channels=c['channels'],
        num_blocks=c['num_blocks'], layers_per_block=c['layers_per_block'], num_classes=c['num_classes'], **extra,
    )
    missing, unexpected = model.load_state_dict(state, strict=False)
    # attn_mask is a constant buffer (the causal mask), rebuilt by the constructor when the file leaves it out.
    missing = [k for k in missing if not k.endswith('attn_mask')]
    if missing or unexpected:
        raise SystemExit(f'checkpoint does not match the reference model: missing {missing}, unexpected {unexpected}')
    return model.eval()


def timed(fn, repeats):
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), times, out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--tarflow', required=True, help='checkout of apple/ml-tarflow')
    p.add_argument('--gs-jacobi', help='checkout of Minokori/GS-Jacobi_for_TarFlow')
    p.add_argument('--checkpoint', required=True, help='safetensors model with its config in the metadata')
    p.add_argument('--inputs', help='safetensors with noise_b{B} and labels_b{B}')
    p.add_argument('--out-samples', help='write the samples here (safetensors: sequential_b{B}, jacobi_b{B}, gsj_b{B})')
    p.add_argument('--batches', default='1,8,64')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--guidance', type=float, default=None, help="default: the checkpoint's recommended scale")
    p.add_argument('--temperature', type=float, default=None, help="default: the checkpoint's recommended temperature")
    p.add_argument('--jacobi-iters', type=int, default=8)
    p.add_argument('--gsj', help='GS-Jacobi strategy as JSON {"num_gs": [...], "max_jacobi": [...], "guess": [...]}')
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    polyfill = ensure_sdpa()
    state, meta = read_safetensors(a.checkpoint)
    config = json.loads(meta['config'])
    sampling = json.loads(meta.get('sampling', '{}'))
    g = sampling.get('guidance') or {}
    guidance = a.guidance if a.guidance is not None else g.get('scale', 0)
    temperature = a.temperature if a.temperature is not None else sampling.get('temperature', 1)
    if g and (g.get('on', 'both') != 'both' or g.get('annealed') or g.get('attnTemp', 1) != 1):
        raise SystemExit(f'this script samples with guidance on both, not annealed, attention temperature 1; the file recommends {g}')
    L = config['num_blocks']
    T = (config['img_size'] // config['patch_size']) ** 2
    D = config['in_channels'] * config['patch_size'] ** 2

    ref = build(import_from(a.tarflow, 'transformer_flow'), config, state, nvp=config.get('nvp', True))
    gs = build(import_from(a.gs_jacobi, 'GS_Jacobi_sampling'), config, state) if a.gs_jacobi else None
    gsj = json.loads(a.gsj) if a.gsj else None
    inputs = read_safetensors(a.inputs)[0] if a.inputs else {}

    result = {
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'sdpa_polyfill': polyfill,
        'guidance': guidance, 'temperature': temperature, 'blocks': L, 'tokens': T,
        'sequential_depth': L * (T - 1), 'jacobi_iters': a.jacobi_iters, 'gsj': gsj, 'batches': [],
    }
    samples = {}
    kw = dict(guidance=guidance, attn_temp=1.0, annealed_guidance=False)
    for B in [int(b) for b in a.batches.split(',')]:
        if f'noise_b{B}' in inputs:
            noise, labels = inputs[f'noise_b{B}'].float(), inputs[f'labels_b{B}'].long()
        else:
            gen = torch.Generator().manual_seed(0)
            noise = torch.randn(B, T, D, generator=gen)
            labels = torch.arange(B) % max(1, config['num_classes'])
        y = labels if config['num_classes'] else None
        z = noise * temperature
        row = {'batch': B}
        with torch.no_grad():
            row['sequential_ms'], row['sequential_runs'], out = timed(lambda: ref.reverse(z.clone(), y, guide_what='ab', **kw), a.repeats)
            samples[f'sequential_b{B}'] = out
            if gs is not None:
                seq = dict(num_GS_list=[0] * L, max_jacobi_list=[1] * L, guess_list=[0] * L)
                row['gs_seq_ms'], row['gs_seq_runs'], out = timed(lambda: gs.reverse(z.clone(), y, guide_what='ac', **seq, **kw), a.repeats)
                row['gs_seq_max_abs_diff'] = (out - samples[f'sequential_b{B}']).abs().max().item()
                jac = dict(num_GS_list=[1] * L, max_jacobi_list=[a.jacobi_iters] * L, guess_list=[0] * L, ebound=-1.0)
                row['jacobi_ms'], row['jacobi_runs'], out = timed(lambda: gs.reverse(z.clone(), y, guide_what='ac', **jac, **kw), a.repeats)
                row['jacobi_depth'] = L * a.jacobi_iters
                samples[f'jacobi_b{B}'] = out
                if gsj:
                    s = dict(num_GS_list=gsj['num_gs'], max_jacobi_list=gsj['max_jacobi'], guess_list=gsj['guess'], ebound=-1.0)
                    row['gsj_ms'], row['gsj_runs'], out = timed(lambda: gs.reverse(z.clone(), y, guide_what='ac', **s, **kw), a.repeats)
                    row['gsj_depth'] = sum(T - 1 if n in (0, T) else n * m for n, m in zip(gsj['num_gs'], gsj['max_jacobi']))
                    samples[f'gsj_b{B}'] = out
        result['batches'].append(row)
    if a.out_samples:
        write_safetensors(a.out_samples, samples)
    json.dump(result, sys.stdout)
    print()


if __name__ == '__main__':
    main()
