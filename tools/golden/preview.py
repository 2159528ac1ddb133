#!/usr/bin/python3
"""Independent reference for the 8-bit preview (src/kernels/preview.ts).

Writes test/golden/preview.json: for a few deterministic float32 planes (made
by the same mulberry32 generator as test/helpers/random.ts, so the TypeScript
test rebuilds them bit for bit, with NaN and ±Inf sprinkled in), the box
average of the finite pixels per f × f block (partial blocks at the edges),
numpy's default (linear) np.percentile of the finite downsampled values
(every s-th of them, row-major, past maxSamples pixels: s the smallest stride
>= pixels / maxSamples coprime with the width) for several pairs of percentiles, and checksums of the downsampled plane and of the
mapped bytes floor((v − lo) · 255 / (hi − lo) + 0.5) clipped to [0, 255].

Usage: /usr/bin/python3 tools/golden/preview.py   (from the repository root)
Needs python3-numpy. Shares no code with src/kernels.
"""
import json
import math
from pathlib import Path

import numpy as np
from common import r17  # noqa: E402  (tools/golden/common.py)

OUT = Path(__file__).resolve().parents[2] / 'test/golden/preview.json'


def mulberry32(seed):
    a = seed & 0xFFFFFFFF

    def imul(x, y):
        return (x * y) & 0xFFFFFFFF

    def r():
        nonlocal a
        a = (a + 0x6D2B79F5) & 0xFFFFFFFF
        t = imul(a ^ (a >> 15), a | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        t &= 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    return r


def plane(c):
    """Row-major float32 plane: r()·scale, or floor(r()·quant) for ties; then NaN, +Inf, −Inf every few pixels."""
    r = mulberry32(c['seed'])
    n = c['w'] * c['h']
    a = np.empty(n, np.float32)
    for i in range(n):
        v = r()
        a[i] = math.floor(v * c['quant']) if c['quant'] else v * c['scale']
    e = c['nanEvery']
    if e:
        a[0::e] = np.nan
        a[3::e * 2] = np.inf
        a[5::e * 3] = -np.inf
    return a.reshape(c['h'], c['w'])


def box(p, f):
    q = p.astype(np.float64)
    q[~np.isfinite(q)] = np.nan
    h, w = q.shape
    out = np.full((-(-h // f), -(-w // f)), np.nan)
    for oy in range(out.shape[0]):
        for ox in range(out.shape[1]):
            blk = q[oy * f:(oy + 1) * f, ox * f:(ox + 1) * f]
            if np.isfinite(blk).any():
                out[oy, ox] = np.nanmean(blk)
    return out


CASES = [
    dict(name='factor 4, NaN and ±Inf', seed=11, w=37, h=23, maxSize=10, maxSamples=32768, scale=1000, quant=0, nanEvery=7),
    dict(name='factor 1, no averaging', seed=12, w=64, h=48, maxSize=512, maxSamples=32768, scale=65535, quant=0, nanEvery=0),
    dict(name='factor 3, tall', seed=13, w=200, h=301, maxSize=101, maxSamples=32768, scale=1, quant=0, nanEvery=13),
    dict(name='ties: 10 integer levels', seed=14, w=90, h=70, maxSize=512, maxSamples=32768, scale=0, quant=10, nanEvery=0),
    dict(name='factor 1, sampled every 61st pixel', seed=15, w=300, h=200, maxSize=512, maxSamples=1000, scale=4095, quant=0, nanEvery=11),
    dict(name='factor 2, sampled', seed=16, w=250, h=120, maxSize=128, maxSamples=700, scale=100, quant=0, nanEvery=5),
]
PERCENTILES = [[0.5, 99.5], [0, 100], [10, 90], [50, 50], [25, 75.3], [99, 99.9]]


def main():
    out = []
    for c in CASES:
        p = plane(c)
        f = math.ceil(max(c['w'], c['h']) / c['maxSize'])
        d = box(p, f).ravel()
        stride = -(-d.size // c['maxSamples'])
        while stride > 1 and math.gcd(stride, -(-c['w'] // f)) != 1:
            stride += 1
        sampled = d[::stride]
        fin = sampled[np.isfinite(sampled)]
        weights = np.arange(1, d.size + 1)
        zeroed = np.nan_to_num(d, nan=0.0)
        case = dict(c, factor=f, stride=stride, samples=int(fin.size), outWidth=-(-c['w'] // f), outHeight=-(-c['h'] // f), finite=int(np.isfinite(d).sum()),
                    downSum=r17(zeroed.sum()), downWeighted=r17((zeroed * weights).sum()),
                    downHead=[r17(v) for v in d[:12]], levels=[])
        for lo_p, hi_p in PERCENTILES:
            lo, hi = np.percentile(fin, [lo_p, hi_p])
            if hi > lo:
                t = (d - lo) * (255 / (hi - lo))
                b = np.where(np.isnan(t), 0, np.clip(np.floor(t + 0.5), 0, 255))
            else:
                b = np.where(d > lo, 255, 0)
            b = b.astype(np.int64)
            case['levels'].append(dict(pct=[lo_p, hi_p], lo=r17(lo), hi=r17(hi),
                                       byteSum=int(b.sum()), byteWeighted=int((b * weights).sum())))
        out.append(case)
    OUT.write_text(json.dumps({'numpy': np.__version__, 'cases': out}, indent=1) + '\n')
    print(f'wrote {OUT}')


if __name__ == '__main__':
    main()
