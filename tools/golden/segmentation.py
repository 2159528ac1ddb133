#!/usr/bin/python3
"""Golden values for segmentation (docs/segmentation.md), computed with scikit-image.

Writes test/golden/segmentation.json and the small fixtures under
test/fixtures/segmentation/ (uint8 / uint16 / float32 single-page TIFFs).

Usage: /usr/bin/python3 tools/golden/segmentation.py [--data DIR]

DIR defaults to ../shared/data beside the repository; without it the
real-data case is carried over from the existing JSON, with a warning.
Needs Debian's python3-numpy, python3-scipy, python3-skimage (0.19), python3-tifffile.

References used (scikit-image 0.19 / numpy 1.24):
  smoothing  skimage.filters.gaussian(img, sigma, mode='nearest', truncate=4.0, preserve_range=True)
  Otsu       skimage.filters.threshold_otsu(img, nbins=256); foreground = img > t
  Sauvola    skimage.filters.threshold_sauvola(img, window_size=w, k=k, r=r); foreground = img > T
  labels     skimage.measure.label(mask, connectivity=c)
  filters    areas from np.bincount, border objects from skimage.segmentation.clear_border,
             renumbering from skimage.segmentation.relabel_sequential
Float32 fixtures are converted to float64 before any skimage call (skimage
would otherwise compute the Sauvola statistics in float32).
"""
import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import scipy
import skimage
import tifffile
from skimage.filters import gaussian, threshold_otsu, threshold_sauvola
from skimage.measure import label
from skimage.segmentation import clear_border, relabel_sequential

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "test" / "fixtures" / "segmentation"
OUT = REPO / "test" / "golden" / "segmentation.json"
DEFAULT_DATA = REPO.parent / "shared" / "data"
DROSOPHILA = "drosophila-seq1/DrosophilaEmbryo_GFPHistone_0000.tif"



def blobs(h, w, n, seed, amp=(40, 200), sig=(1.0, 3.5), bg=20.0, noise="poisson"):
    """Gaussian blobs on a flat background, plus noise; float64."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.full((h, w), bg)
    for _ in range(n):
        cy, cx = rng.uniform(-2, h + 2), rng.uniform(-2, w + 2)
        s = rng.uniform(*sig)
        a = rng.uniform(*amp)
        img += a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    if noise == "poisson":
        img = rng.poisson(img).astype(np.float64)
    else:
        img = img + rng.normal(0, noise, img.shape)
    return img


def rle(lab):
    """Runs of equal non-zero labels in raster order: flat [start, length, label, ...]."""
    f = lab.ravel().astype(np.int64)
    out = []
    n = f.size
    i = 0
    change = np.flatnonzero(np.diff(f)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n]])
    for s, e in zip(starts, ends):
        v = int(f[s])
        if v != 0:
            out += [int(s), int(e - s), v]
    return out


def filtered(lab, min_area, max_area, exclude_border):
    lab = lab.copy()
    areas = np.bincount(lab.ravel())
    bad = (areas < min_area) | (areas > max_area)
    bad[0] = False
    lab[bad[lab]] = 0
    if exclude_border:
        lab = clear_border(lab)
    return relabel_sequential(lab)[0]


def areas_of(lab):
    return np.bincount(lab.ravel())[1:].astype(int).tolist()


def map_summary(t, rng, full):
    out = {"sum": float(t.sum(dtype=np.float64)), "sumSq": float((t * t).sum(dtype=np.float64)),
           "min": float(t.min()), "max": float(t.max())}
    h, w = t.shape
    pts = [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (h // 2, w // 2)]
    pts += [(int(rng.integers(h)), int(rng.integers(w))) for _ in range(40)]
    out["samples"] = [[y, x, float(t[y, x])] for y, x in pts]
    if full:
        out["full"] = [float(v) for v in t.ravel()]
    return out


def labels_entry(mask, conn, full):
    lab = label(mask, connectivity=conn)
    e = {"connectivity": conn, "count": int(lab.max()), "areas": areas_of(lab), "rle": rle(lab)}
    if full:
        e["full"] = lab.ravel().astype(int).tolist()
    return e, lab


def run_case(name, img, dtype_name, steps, full, source):
    """img: array in its stored dtype (uint8/uint16) or float64 (from float32)."""
    h, w = img.shape
    case = {"name": name, "source": source, "dtype": dtype_name, "height": h, "width": w, "runs": []}
    rng = np.random.default_rng(1234)
    for st in steps:
        run = {"params": st}
        x = img
        if st.get("sigma", 0) > 0:
            x = gaussian(img, sigma=st["sigma"], mode="nearest", truncate=4.0, preserve_range=True)
            assert x.dtype == np.float64
        if st["method"] == "otsu":
            t = threshold_otsu(x, nbins=256)
            run["threshold"] = float(t)
            mask = x > t
        else:
            T = threshold_sauvola(x, window_size=st["window"], k=st["k"], r=st.get("r"))
            run["thresholdMap"] = map_summary(T, rng, full)
            mask = x > T
        run["foreground"] = int(mask.sum())
        run["labels"] = []
        for conn in (1, 2):
            e, lab = labels_entry(mask, conn, full)
            for fl in st.get("filters", []):
                f = filtered(lab, fl["minArea"], fl.get("maxArea", float("inf")), fl["excludeBorder"])
                fe = {"minArea": fl["minArea"], "maxArea": fl.get("maxArea"), "excludeBorder": fl["excludeBorder"],
                      "count": int(f.max()), "areas": areas_of(f), "rle": rle(f)}
                e.setdefault("filtered", []).append(fe)
            run["labels"].append(e)
        case["runs"].append(run)
    return case


def selftests():
    # Otsu: threshold_otsu on a float image is the centre of the bin maximising
    # the between-class variance; compare with a direct reimplementation.
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.normal(10, 2, 500), rng.normal(30, 3, 700)])
    counts, edges = np.histogram(a, bins=256, range=(a.min(), a.max()))
    centres = (edges[:-1] + edges[1:]) / 2
    best, bt = -1, None
    for i in range(255):
        w1, w2 = counts[:i + 1].sum(), counts[i + 1:].sum()
        m1 = (counts[:i + 1] * centres[:i + 1]).sum() / w1
        m2 = (counts[i + 1:] * centres[i + 1:]).sum() / w2
        v = w1 * w2 * (m1 - m2) ** 2
        if v > best:
            best, bt = v, centres[i]
    assert abs(bt - threshold_otsu(a)) < 1e-9, (bt, threshold_otsu(a))
    # Integer images: one bin per value between min and max, threshold is an integer.
    u = np.array([[3, 3, 4, 9, 10, 10]], dtype=np.uint8)
    assert threshold_otsu(u) == 4
    # Sauvola's R defaults to half the dtype range, not the image range.
    f = rng.uniform(0, 100, (9, 11))
    assert np.allclose(threshold_sauvola(f, 5), threshold_sauvola(f, 5, r=1.0))
    u16 = (f * 10).astype(np.uint16)
    assert np.allclose(threshold_sauvola(u16, 5), threshold_sauvola(u16.astype(float), 5, r=32767.5))
    # Labels are in raster order of each object's first pixel.
    m = np.array([[0, 0, 1], [1, 0, 1], [1, 1, 1]], bool)
    assert label(m, connectivity=1).tolist() == [[0, 0, 1], [1, 0, 1], [1, 1, 1]]
    m = np.array([[0, 1], [1, 0]], bool)
    assert label(m, connectivity=1).max() == 2 and label(m, connectivity=2).max() == 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    selftests()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    cases = []

    # 1. tiny float image, everything stored in full (image included).
    tiny = blobs(13, 17, 4, seed=11, amp=(30, 80), sig=(1.0, 2.0), bg=10.0, noise=3.0).astype(np.float32)
    tiny64 = tiny.astype(np.float64)
    c = run_case("tiny-13x17", tiny64, "float32", [
        {"method": "otsu"},
        {"method": "otsu", "sigma": 1.0},
        {"method": "sauvola", "window": 5, "k": 0.2},
        {"method": "sauvola", "window": 15, "k": 0.5, "r": 8.0},
        {"method": "sauvola", "window": 41, "k": 0.2, "r": 20.0},
    ], True, {"kind": "inline"})
    c["image"] = [float(v) for v in tiny.ravel()]
    cases.append(c)

    # 2. uint16 64x80 fixture.
    img = np.clip(blobs(64, 80, 25, seed=21, amp=(200, 2000), bg=100.0), 0, 65535).astype(np.uint16)
    p = FIXTURES / "blobs-u16-64x80.tif"
    tifffile.imwrite(p, img)
    flt = [{"minArea": 5, "maxArea": 200, "excludeBorder": False},
           {"minArea": 1, "excludeBorder": True},
           {"minArea": 10, "maxArea": 120, "excludeBorder": True}]
    cases.append(run_case("blobs-u16-64x80", img, "uint16", [
        {"method": "otsu", "filters": flt},
        {"method": "otsu", "sigma": 2.0, "filters": flt},
        {"method": "sauvola", "window": 15, "k": 0.2, "filters": flt},
        {"method": "sauvola", "window": 15, "k": 0.2, "r": 300.0, "sigma": 1.0, "filters": flt},
    ], False, {"kind": "fixture", "path": "test/fixtures/segmentation/blobs-u16-64x80.tif"}))

    # 3. uint8 odd 45x71 fixture.
    img = np.clip(blobs(45, 71, 18, seed=31, amp=(40, 180), bg=15.0), 0, 255).astype(np.uint8)
    p = FIXTURES / "blobs-u8-45x71.tif"
    tifffile.imwrite(p, img)
    cases.append(run_case("blobs-u8-45x71", img, "uint8", [
        {"method": "otsu", "filters": flt},
        {"method": "otsu", "sigma": 1.5, "filters": flt},
        {"method": "sauvola", "window": 9, "k": 0.3, "filters": flt},
    ], False, {"kind": "fixture", "path": "test/fixtures/segmentation/blobs-u8-45x71.tif"}))

    # 4. float32 odd 37x29 fixture (window larger than the image: repeated reflection).
    img = blobs(37, 29, 10, seed=41, amp=(5, 30), bg=2.0, noise=1.0).astype(np.float32)
    p = FIXTURES / "blobs-f32-37x29.tif"
    tifffile.imwrite(p, img)
    cases.append(run_case("blobs-f32-37x29", img.astype(np.float64), "float32", [
        {"method": "otsu", "filters": flt},
        {"method": "otsu", "sigma": 1.0, "filters": flt},
        {"method": "sauvola", "window": 31, "k": 0.2, "r": 10.0, "filters": flt},
        {"method": "sauvola", "window": 81, "k": 0.2, "filters": flt},
    ], False, {"kind": "fixture", "path": "test/fixtures/segmentation/blobs-f32-37x29.tif"}))

    # 5. real data: green channel of the first drosophila frame.
    dpath = args.data / DROSOPHILA
    if dpath.exists():
        rgb = tifffile.imread(dpath)
        assert rgb.dtype == np.uint8 and rgb.shape == (264, 542, 3), rgb.shape
        g = np.ascontiguousarray(rgb[..., 1])
        c = run_case("drosophila-green", g, "uint8", [
            {"method": "otsu", "sigma": 2.0, "filters": [{"minArea": 20, "excludeBorder": True}]},
            {"method": "otsu"},
            {"method": "sauvola", "window": 25, "k": 0.2, "sigma": 1.0, "filters": [{"minArea": 20, "excludeBorder": False}]},
            {"method": "sauvola", "window": 41, "k": 0.2, "r": 10.0, "sigma": 1.0},
        ], False, {"kind": "shared", "path": "data/" + DROSOPHILA, "channel": 1,
                   "sha256": hashlib.sha256(dpath.read_bytes()).hexdigest()})
        cases.append(c)
    else:
        old = json.loads(OUT.read_text()) if OUT.exists() else {"cases": []}
        kept = [c for c in old["cases"] if c["name"] == "drosophila-green"]
        print(f"warning: {dpath} not found; drosophila case carried over ({len(kept)})", file=sys.stderr)
        cases += kept

    doc = {"generator": "tools/golden/segmentation.py", "numpy": np.__version__, "scipy": scipy.__version__,
           "skimage": skimage.__version__, "tifffile": tifffile.__version__,
           "rle": "flat [start, length, label, ...] over raster indices, non-zero runs only",
           "cases": cases}
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
