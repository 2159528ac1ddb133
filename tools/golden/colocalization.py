#!/usr/bin/python3
"""Independent reference for the per-object colocalization features
(docs/features.md, "## Colocalization").

Writes test/golden/colocalization.json: synthetic two-channel label + intensity
images (tiny, stored in the JSON itself) and, when ../shared/data exists, a
label image derived from colocalization/0_1_N_G.png (as RLE; the images
themselves are not stored, only their pixel sums to check the decoding), with
the expected features of each case.

Per object, on float64 copies of the pixel pairs that are finite in both
channels: scipy.stats.pearsonr, scipy.stats.linregress (slope of channel 2 on
channel 1), numpy for the thresholded sums, scipy.stats.rankdata(method='dense')
- 1 for the ranks. Cross-checked against a transcription of CellProfiler's
vectorised MeasureColocalization code (scipy.ndimage sums over the label
image; CellProfiler's lexsort/cumsum dense ranks, run per object) for every
object without non-finite pixels.

Usage: /usr/bin/python3 tools/golden/colocalization.py [--data DIR]
Needs python3-numpy, python3-scipy, python3-skimage. Shares no code with src/kernels.
"""
import argparse
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy
import scipy.ndimage
import scipy.stats
import skimage
from skimage import filters, io, measure, morphology
from common import r17, rle  # noqa: E402  (tools/golden/common.py)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "test" / "golden" / "colocalization.json"
DEFAULT_DATA = REPO.parent / "shared" / "data"

NAMES = ["Correlation_Pearson", "Correlation_Slope", "Correlation_M1", "Correlation_M2",
         "Correlation_Overlap", "Correlation_K1", "Correlation_K2",
         "Correlation_RWC1", "Correlation_RWC2"]
FRACTION = 0.15


def ratio(num, den):
    return None if den == 0 else num / den


def object_features(c1, c2, fraction):
    """The definitions of docs/features.md for one object's pixels (any dtype)."""
    x = np.asarray(c1, dtype=np.float64)
    y = np.asarray(c2, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = x.size
    if n == 0:
        return {k: None for k in NAMES}
    const1 = bool((x == x[0]).all())
    const2 = bool((y == y[0]).all())
    out = {}
    out["Correlation_Pearson"] = None if n < 2 or const1 or const2 else scipy.stats.pearsonr(x, y)[0]
    out["Correlation_Slope"] = None if const1 else scipy.stats.linregress(x, y).slope
    t1 = fraction * x.max()
    t2 = fraction * y.max()
    a1 = x >= t1
    a2 = y >= t2
    both = a1 & a2
    tot1 = x[a1].sum()
    tot2 = y[a2].sum()
    out["Correlation_M1"] = ratio(x[both].sum(), tot1)
    out["Correlation_M2"] = ratio(y[both].sum(), tot2)
    q1 = (x[both] ** 2).sum()
    q2 = (y[both] ** 2).sum()
    pr = (x[both] * y[both]).sum()
    out["Correlation_Overlap"] = ratio(pr, math.sqrt(q1 * q2))
    out["Correlation_K1"] = ratio(pr, q1)
    out["Correlation_K2"] = ratio(pr, q2)
    r1 = scipy.stats.rankdata(x, method="dense").astype(np.int64) - 1
    r2 = scipy.stats.rankdata(y, method="dense").astype(np.int64) - 1
    R = max(r1.max(), r2.max()) + 1
    w = (R - np.abs(r1 - r2)) / R
    out["Correlation_RWC1"] = ratio((x[both] * w[both]).sum(), tot1)
    out["Correlation_RWC2"] = ratio((y[both] * w[both]).sum(), tot2)
    return out


def cellprofiler_style(labels, first, second, fraction):
    """CellProfiler MeasureColocalization.run_image_pair_objects, transcribed
    (threshold, Manders, overlap, K; without its `fix` that turns NaN into 0)
    for the objects' pixels; RWC with CellProfiler's rank code run per object."""
    mask = labels > 0
    lab = labels[mask]
    fp = first[mask].astype(np.float64)
    sp = second[mask].astype(np.float64)
    ids = np.unique(lab)
    dense = np.searchsorted(ids, lab) + 1
    lrange = np.arange(len(ids), dtype=np.int32) + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        tff = fraction * np.array(scipy.ndimage.maximum(fp, dense, lrange))
        tss = fraction * np.array(scipy.ndimage.maximum(sp, dense, lrange))
        comb = (fp >= tff[dense - 1]) & (sp >= tss[dense - 1])
        tot_fi = np.array(scipy.ndimage.sum(fp[fp >= tff[dense - 1]], dense[fp >= tff[dense - 1]], lrange))
        tot_si = np.array(scipy.ndimage.sum(sp[sp >= tss[dense - 1]], dense[sp >= tss[dense - 1]], lrange))
        M1 = np.array(scipy.ndimage.sum(fp[comb], dense[comb], lrange)) / tot_fi
        M2 = np.array(scipy.ndimage.sum(sp[comb], dense[comb], lrange)) / tot_si
        fpsq = np.array(scipy.ndimage.sum(fp[comb] ** 2, dense[comb], lrange))
        spsq = np.array(scipy.ndimage.sum(sp[comb] ** 2, dense[comb], lrange))
        pdt = np.array(scipy.ndimage.sum(fp[comb] * sp[comb], dense[comb], lrange))
        overlap = pdt / np.sqrt(fpsq * spsq)
        K1 = pdt / fpsq
        K2 = pdt / spsq
    rwc1 = np.full(len(ids), np.nan)
    rwc2 = np.full(len(ids), np.nan)
    for k in range(len(ids)):
        sel = dense == k + 1
        f, s = fp[sel], sp[sel]
        [Rank1] = np.lexsort(([np.ones_like(f)], [f]))
        [Rank2] = np.lexsort(([np.ones_like(s)], [s]))
        Rank1_U = np.hstack([[False], f[Rank1[:-1]] != f[Rank1[1:]]])
        Rank2_U = np.hstack([[False], s[Rank2[:-1]] != s[Rank2[1:]]])
        Rank_im1 = np.zeros(f.shape, dtype=int)
        Rank_im2 = np.zeros(s.shape, dtype=int)
        Rank_im1[Rank1] = np.cumsum(Rank1_U)
        Rank_im2[Rank2] = np.cumsum(Rank2_U)
        R = max(Rank_im1.max(), Rank_im2.max()) + 1
        weight = (R - abs(Rank_im1 - Rank_im2)) * 1.0 / R
        c = comb[sel]
        with np.errstate(divide="ignore", invalid="ignore"):
            rwc1[k] = (f[c] * weight[c]).sum() / tot_fi[k]
            rwc2[k] = (s[c] * weight[c]).sum() / tot_si[k]
    return ids, {"Correlation_M1": M1, "Correlation_M2": M2, "Correlation_Overlap": overlap,
                 "Correlation_K1": K1, "Correlation_K2": K2,
                 "Correlation_RWC1": rwc1, "Correlation_RWC2": rwc2}


def features(labels, ch1, ch2, fraction=FRACTION, cross_check=True):
    ids = [int(v) for v in np.unique(labels) if v != 0]
    cols = {k: [] for k in NAMES}
    flat = labels.ravel()
    order = np.argsort(flat, kind="stable")  # raster order within each label
    bounds = np.searchsorted(flat[order], ids + [ids[-1] + 1] if ids else [])
    f1 = ch1.ravel()
    f2 = ch2.ravel()
    finite_obj = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no silent constant-input nan
        for j, lab in enumerate(ids):
            sel = order[bounds[j]:bounds[j + 1]]
            v = object_features(f1[sel], f2[sel], fraction)
            for k in NAMES:
                cols[k].append(r17(v[k]))
            finite_obj.append(bool(np.isfinite(f1[sel].astype(np.float64)).all()
                                   and np.isfinite(f2[sel].astype(np.float64)).all()))
    if cross_check and ids:
        cids, cp = cellprofiler_style(labels, ch1, ch2, fraction)
        assert list(cids) == ids
        checked = 0
        for name, col in cp.items():
            for j in range(len(ids)):
                if not finite_obj[j]:
                    continue
                want = cols[name][j]
                got = col[j]
                if want is None:
                    assert not math.isfinite(got), (name, ids[j], got)
                else:
                    assert abs(got - want) <= 1e-12 * max(abs(want), 1e-300), (name, ids[j], got, want)
                checked += 1
        print(f"  cross-check against CellProfiler's code: {checked} values agree", file=sys.stderr)
    return ids, cols


# ----------------------------------------------------------------- synthetic

W, H = 40, 32


def synthetic_labels():
    lab = np.zeros((H, W), dtype=np.int32)
    lab[1, 1] = 3                      # one pixel
    lab[1, 4:9] = 5                    # constant in both channels
    lab[3, 1:9] = 6                    # channel 1 constant, channel 2 varies
    lab[5:8, 1:9] = 8                  # anti-correlated
    lab[9:15, 1:11] = 11               # partially colocalized
    lab[16:20, 1:9] = 12               # NaN / Inf pixels (float32)
    lab[21:25, 1:9] = 14               # near the top of the range, ties
    lab[26, 1:5] = 15                  # all-NaN (float32) / all-zero (integers)
    lab[28, 1:3] = 17                  # two pixels
    lab[28, 5:7] = 18                  # two pixels, no common above-threshold pixel
    lab[1:30, 14:38][np.add.outer(np.arange(29), np.arange(24)) % 3 != 0] = 40  # large, many ties
    lab[30, 14:20] = 41                # negative values and ±0 (float32)
    lab[30, 22:26] = 42                # pixels exactly at the threshold (0.5 · max; ≥ counts them)
    return lab


def synthetic_channels(lab, dtype, rng):
    hi = {"uint16": 65535, "uint8": 255, "float32": 1000.0}[dtype]
    a = np.zeros((H, W), dtype=np.float64)
    b = np.zeros((H, W), dtype=np.float64)
    m = lab == 3
    a[m], b[m] = hi * 0.5, hi * 0.25
    m = lab == 5
    a[m], b[m] = hi * 0.4, hi * 0.6
    m = lab == 6
    a[m] = hi * 0.3
    b[m] = np.linspace(0.1, 0.9, m.sum()) * hi
    m = lab == 8
    t = rng.uniform(0, 1, m.sum())
    a[m] = t * hi
    b[m] = (1 - t) * hi
    m = lab == 11
    t = rng.uniform(0, 1, m.sum())
    a[m] = t * hi
    b[m] = np.where(rng.uniform(0, 1, m.sum()) < 0.5, t * hi * 0.8, rng.uniform(0, 0.2, m.sum()) * hi)
    m = lab == 12
    a[m] = rng.uniform(0.1, 1, m.sum()) * hi
    b[m] = a[m] * 0.5 + rng.uniform(0, 0.3, m.sum()) * hi
    m = lab == 14
    a[m] = hi - rng.integers(0, 4, m.sum())
    b[m] = hi - rng.integers(0, 3, m.sum())
    m = lab == 15
    a[m], b[m] = 0, 0
    m = lab == 17
    a[m] = [hi * 0.2, hi * 0.7]
    b[m] = [hi * 0.1, hi * 0.9]
    m = lab == 18
    a[m] = [hi * 0.9, 0]
    b[m] = [0, hi * 0.9]
    m = lab == 40
    t = rng.integers(0, 12, m.sum()) / 11.0
    a[m] = t * hi
    b[m] = np.clip(t + rng.integers(-1, 2, m.sum()) / 11.0, 0, 1) * hi
    m = lab == 41
    a[m] = [-3.0, -0.0, 0.0, 2.0, -3.0, 5.0] if dtype == "float32" else [3, 0, 0, 2, 3, 5]
    b[m] = [1.0, 2.0, 2.0, -1.0, 0.0, -0.0] if dtype == "float32" else [1, 2, 2, 0, 0, 0]
    m = lab == 42
    a[m] = [20, 10, 9, 0]
    b[m] = [0, 10, 20, 10]
    bg = lab == 0
    a[bg] = rng.uniform(0, hi, bg.sum())
    b[bg] = rng.uniform(0, hi, bg.sum())
    if dtype == "float32":
        a = a.astype(np.float32)
        b = b.astype(np.float32)
        r12 = np.argwhere(lab == 12)
        a[tuple(r12[0])] = np.nan
        b[tuple(r12[3])] = np.nan
        a[tuple(r12[5])] = np.inf
        b[tuple(r12[7])] = -np.inf
        a[tuple(r12[9])] = np.nan
        b[tuple(r12[9])] = np.nan
        m = lab == 15
        a[m] = np.nan
        b[m] = np.where(np.arange(m.sum()) % 2, 1.0, np.nan)
        return a, b
    return np.rint(a).astype(dtype), np.rint(b).astype(dtype)


def image_json(img):
    flat = img.ravel()
    if img.dtype == np.float32:
        vals = [None if math.isnan(v) else float(v) if math.isfinite(v) else None for v in flat.tolist()]
        infs = [[int(i), 1 if flat[i] > 0 else -1] for i in np.flatnonzero(np.isinf(flat))]
        return vals, infs
    return [int(v) for v in flat], []


def synthetic_cases():
    rng = np.random.default_rng(20261122)
    lab = synthetic_labels()
    cases = []
    for dtype in ("uint16", "uint8", "float32"):
        a, b = synthetic_channels(lab, dtype, rng)
        for fraction in ([FRACTION, 0.5] if dtype == "uint16" else [FRACTION]):
            ids, cols = features(lab, a, b, fraction)
            ja, ia = image_json(a)
            jb, ib = image_json(b)
            name = f"synthetic-{dtype}" + ("" if fraction == FRACTION else f"-threshold{fraction}")
            cases.append({"name": name, "source": {"kind": "inline"}, "width": W, "height": H,
                          "dtype": dtype, "thresholdFraction": fraction, "labelsRle": rle(lab),
                          "ch1": ja, "ch2": jb, "infs1": ia, "infs2": ib, "ids": ids, "features": cols})
            print(f"{name}: {len(ids)} objects", file=sys.stderr)
    return cases


def real_case(data):
    folder = data / "colocalization"
    g = io.imread(folder / "0_1_N_G.png")
    r = io.imread(folder / "0_1_N_R.png")
    assert g.dtype == np.uint16 and r.dtype == np.uint16 and g.shape == r.shape == (1040, 1392), (g.shape, g.dtype)
    sm = filters.gaussian(g, sigma=2, mode="nearest", truncate=4, preserve_range=True)
    lab = measure.label(sm > filters.threshold_otsu(sm), connectivity=1)
    lab = morphology.remove_small_objects(lab, min_size=50)
    ids, cols = features(lab, g, r, FRACTION)
    print(f"real 0_1_N G/R: {len(ids)} objects, sizes {np.bincount(lab.ravel())[1:][np.bincount(lab.ravel())[1:] > 0].min()}"
          f"..{np.bincount(lab.ravel())[1:].max()}", file=sys.stderr)
    return {"name": "real-0_1_N-G-R", "width": int(g.shape[1]), "height": int(g.shape[0]), "dtype": "uint16",
            "thresholdFraction": FRACTION,
            "source": {"kind": "shared", "ch1": "data/colocalization/0_1_N_G.png",
                       "ch2": "data/colocalization/0_1_N_R.png",
                       "sum1": int(g.astype(np.int64).sum()), "sum2": int(r.astype(np.int64).sum())},
            "labelsRle": rle(lab), "ids": ids, "features": cols}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    cases = synthetic_cases()
    if args.data.exists():
        cases.append(real_case(args.data))
    elif OUT.exists():
        old = json.loads(OUT.read_text())
        kept = [c for c in old["cases"] if c["source"]["kind"] == "shared"]
        print(f"warning: {args.data} not found; {len(kept)} real-data case(s) copied unchanged", file=sys.stderr)
        cases += kept
    doc = {"generator": "tools/golden/colocalization.py",
           "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "skimage": skimage.__version__},
           "names": NAMES, "cases": cases}
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
