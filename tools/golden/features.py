#!/usr/bin/python3
"""Independent reference for the per-object features (docs/features.md).

Writes test/golden/features.json: synthetic label + intensity images (tiny,
stored in the JSON itself) and, when ../shared/data exists, a label image
derived from drosophila-seq1 frame 0 (as RLE; the image itself is not stored),
with the expected features of each case.

Shape: scikit-image regionprops. Intensity: numpy on float64 copies of the
finite pixels (CellProfiler's formulas), cross-checked against regionprops'
intensity_mean/min/max and centroid_weighted wherever an object has no
non-finite pixel.

Usage: /usr/bin/python3 tools/golden/features.py [--data DIR]
Needs python3-numpy, python3-scipy, python3-skimage, python3-tifffile.
Shares no code with src/kernels.
"""
import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import scipy
import skimage
import tifffile
from scipy import ndimage as ndi
from skimage import filters, measure, morphology
from common import r17, rle  # noqa: E402  (tools/golden/common.py)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "test" / "golden" / "features.json"
DEFAULT_DATA = REPO.parent / "shared" / "data"

SHAPE = ["AreaShape_Area", "AreaShape_Center_X", "AreaShape_Center_Y",
         "AreaShape_BoundingBoxMinimum_X", "AreaShape_BoundingBoxMinimum_Y",
         "AreaShape_BoundingBoxMaximum_X", "AreaShape_BoundingBoxMaximum_Y",
         "AreaShape_MajorAxisLength", "AreaShape_MinorAxisLength", "AreaShape_Eccentricity",
         "AreaShape_Orientation", "AreaShape_Perimeter", "AreaShape_Solidity",
         "AreaShape_EquivalentDiameter", "AreaShape_FormFactor", "AreaShape_Extent"]


def shape_features(labels):
    ids = [int(v) for v in np.unique(labels) if v != 0]
    cols = {k: [] for k in SHAPE}
    notes = {}
    props = {p.label: p for p in measure.regionprops(labels)}
    for lab in ids:
        p = props[lab]
        rows, cc = np.nonzero(labels == lab)
        n = rows.size
        # Exact (integer) isotropy test of the second central moments, scaled by n^2.
        sx, sy = int(cc.sum()), int(rows.sum())
        va = n * int((cc.astype(object) ** 2).sum()) - sx * sx
        vc = n * int((rows.astype(object) ** 2).sum()) - sy * sy
        cv = n * int((rows.astype(object) * cc.astype(object)).sum()) - sx * sy
        l1, l2 = p.inertia_tensor_eigvals
        per = p.perimeter
        cols["AreaShape_Area"].append(int(p.area))
        cols["AreaShape_Center_X"].append(r17(p.centroid[1]))
        cols["AreaShape_Center_Y"].append(r17(p.centroid[0]))
        cols["AreaShape_BoundingBoxMinimum_X"].append(int(p.bbox[1]))
        cols["AreaShape_BoundingBoxMinimum_Y"].append(int(p.bbox[0]))
        cols["AreaShape_BoundingBoxMaximum_X"].append(int(p.bbox[3]))
        cols["AreaShape_BoundingBoxMaximum_Y"].append(int(p.bbox[2]))
        cols["AreaShape_MajorAxisLength"].append(r17(p.axis_major_length))
        cols["AreaShape_MinorAxisLength"].append(r17(p.axis_minor_length))
        # Deviation (docs/features.md): skimage returns 0 when l1 == 0 (0/0).
        cols["AreaShape_Eccentricity"].append(None if l1 == 0 else r17(p.eccentricity))
        # Orientation: skimage's 0.5*atan2(-2b, c - a) with b = -mu11/mu00, but ties
        # decided exactly (integers) rather than by rounding (docs/features.md):
        sk = math.degrees(p.orientation)
        if va == vc and cv == 0:     # no principal direction (skimage: +45)
            ori = None
            notes.setdefault("isotropic", []).append(lab)
        elif cv == 0:                # b = 0 exactly: +90 (horizontal) or 0 (vertical)
            ori = 90.0 if va > vc else 0.0
        elif va == vc:               # a = c exactly: the formula's limit, 45 * sign(mu11)
            ori = 45.0 if cv > 0 else -45.0
        else:
            ori = sk
        if ori is not None and abs(ori - sk) > 1e-6:
            notes.setdefault("orientationTieVsSkimage", []).append([lab, ori, sk])
        cols["AreaShape_Orientation"].append(r17(ori))
        cols["AreaShape_Perimeter"].append(r17(per))
        cols["AreaShape_Solidity"].append(r17(p.solidity))
        cols["AreaShape_EquivalentDiameter"].append(r17(p.equivalent_diameter_area))
        cols["AreaShape_FormFactor"].append(None if per == 0 else r17(4 * math.pi * p.area / per ** 2))
        cols["AreaShape_Extent"].append(r17(p.extent))
    return ids, cols, notes


def edge_mask(labels):
    """Object pixels with a 4-neighbour inside the image carrying another label."""
    h, w = labels.shape
    e = np.zeros(labels.shape, bool)
    e[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    e[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    e[1:, :] |= labels[1:, :] != labels[:-1, :]
    e[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return e & (labels != 0)


def quantile(v, q):
    return float(np.quantile(v, q))  # numpy 1.24 default method 'linear'


INT_NAMES = ["Intensity_IntegratedIntensity", "Intensity_MeanIntensity", "Intensity_StdIntensity",
             "Intensity_MinIntensity", "Intensity_MaxIntensity",
             "Intensity_IntegratedIntensityEdge", "Intensity_MeanIntensityEdge", "Intensity_StdIntensityEdge",
             "Intensity_MinIntensityEdge", "Intensity_MaxIntensityEdge",
             "Intensity_MassDisplacement", "Location_CenterMassIntensity_X", "Location_CenterMassIntensity_Y",
             "Location_MaxIntensity_X", "Location_MaxIntensity_Y",
             "Intensity_MedianIntensity", "Intensity_LowerQuartileIntensity",
             "Intensity_UpperQuartileIntensity", "Intensity_MADIntensity"]


def intensity_features(labels, image):
    img = image.astype(np.float64)
    finite = np.isfinite(img)
    edges = edge_mask(labels)
    ids = [int(v) for v in np.unique(labels) if v != 0]
    cols = {k: [] for k in INT_NAMES}
    checked = 0
    safe = np.where(finite, img, 0.0)
    props = {p.label: p for p in measure.regionprops(labels, intensity_image=safe)}
    for lab in ids:
        m = labels == lab
        rows, cc = np.nonzero(m)  # raster order
        vals = img[rows, cc]
        ok = np.isfinite(vals)
        v = vals[ok]
        r, c = rows[ok], cc[ok]
        put = lambda k, x: cols[k].append(r17(x))
        if v.size == 0:
            for k in ["Intensity_IntegratedIntensity", "Intensity_MeanIntensity", "Intensity_StdIntensity",
                      "Intensity_MinIntensity", "Intensity_MaxIntensity", "Location_MaxIntensity_X",
                      "Location_MaxIntensity_Y", "Location_CenterMassIntensity_X",
                      "Location_CenterMassIntensity_Y", "Intensity_MassDisplacement",
                      "Intensity_MedianIntensity", "Intensity_LowerQuartileIntensity",
                      "Intensity_UpperQuartileIntensity", "Intensity_MADIntensity"]:
                put(k, None)
        else:
            s = float(np.sum(v))
            put("Intensity_IntegratedIntensity", s)
            put("Intensity_MeanIntensity", np.mean(v))
            put("Intensity_StdIntensity", np.std(v, ddof=0))
            put("Intensity_MinIntensity", np.min(v))
            put("Intensity_MaxIntensity", np.max(v))
            j = int(np.argmax(v))  # first maximum in raster order
            put("Location_MaxIntensity_X", c[j])
            put("Location_MaxIntensity_Y", r[j])
            if s == 0:
                for k in ["Location_CenterMassIntensity_X", "Location_CenterMassIntensity_Y",
                          "Intensity_MassDisplacement"]:
                    put(k, None)
            else:
                mx = float(np.sum(v * c) / s)
                my = float(np.sum(v * r) / s)
                put("Location_CenterMassIntensity_X", mx)
                put("Location_CenterMassIntensity_Y", my)
                # plain centroid over all the object's pixels (finite or not)
                put("Intensity_MassDisplacement", math.hypot(mx - cc.mean(), my - rows.mean()))
            med = quantile(v, 0.5)
            put("Intensity_MedianIntensity", med)
            put("Intensity_LowerQuartileIntensity", quantile(v, 0.25))
            put("Intensity_UpperQuartileIntensity", quantile(v, 0.75))
            put("Intensity_MADIntensity", quantile(np.abs(v - med), 0.5))
            if ok.all():
                p = props[lab]
                assert abs(p.intensity_mean - np.mean(v)) <= 1e-12 * max(1, abs(np.mean(v)))
                assert p.intensity_min == np.min(v) and p.intensity_max == np.max(v)
                if s != 0:
                    wc = p.centroid_weighted
                    assert abs(wc[0] - my) <= 1e-9 * max(1, abs(my)) and abs(wc[1] - mx) <= 1e-9 * max(1, abs(mx)), (wc, mx, my)
                checked += 1
        ev = img[m & edges & finite]
        if ev.size == 0:
            for k in ["Intensity_IntegratedIntensityEdge", "Intensity_MeanIntensityEdge",
                      "Intensity_StdIntensityEdge", "Intensity_MinIntensityEdge", "Intensity_MaxIntensityEdge"]:
                put(k, None)
        else:
            put("Intensity_IntegratedIntensityEdge", np.sum(ev))
            put("Intensity_MeanIntensityEdge", np.mean(ev))
            put("Intensity_StdIntensityEdge", np.std(ev, ddof=0))
            put("Intensity_MinIntensityEdge", np.min(ev))
            put("Intensity_MaxIntensityEdge", np.max(ev))
    return cols, checked


def synthetic_labels():
    h, w = 40, 48
    L = np.zeros((h, w), np.int32)
    L[5, 5] = 3                      # one pixel
    L[8, 10:17] = 5                  # one-pixel-wide horizontal line
    for t in range(6):               # one-pixel-wide diagonal line (4-disconnected)
        L[12 + t, 2 + t] = 6
    L[0:6, 30:38] = 8                # touches the top border
    L[34:40, 0:5] = 9                # touches the bottom-left corner
    L[20:25, 20:25] = 12             # square (isotropic, no principal axis)
    L[20:26, 30:32] = 13             # L shape, touching 14 (shared boundary)
    L[24:26, 32:36] = 13
    L[26:30, 30:36] = 14
    yy, xx = np.mgrid[0:h, 0:w]
    ell = (((xx - 12) * math.cos(0.5) + (yy - 28) * math.sin(0.5)) / 6.5) ** 2 + \
          ((-(xx - 12) * math.sin(0.5) + (yy - 28) * math.cos(0.5)) / 3.2) ** 2 <= 1
    L[ell & (L == 0)] = 40           # rotated ellipse
    ring = ((xx - 40) ** 2 + (yy - 17) ** 2 <= 16) & ((xx - 40) ** 2 + (yy - 17) ** 2 > 3)
    L[ring] = 41                     # ring with a hole
    L[2:4, 20:22] = 50               # constant-intensity object
    L[2, 24] = 51                    # two pieces under one label
    L[4, 26] = 51
    L[33:36, 40:46] = 60             # saturated ties
    L[36:38, 20:24] = 61             # all-zero intensity (no centre of mass)
    L[14:16, 24:26] = 70             # all-NaN in the float image
    L[38, 10:12] = 71                # two pixels (perimeter 0)
    L[38, 38:40] = 72                # touches the bottom border
    L[37, 38] = 72
    return L


def synthetic_images(L, rng):
    h, w = L.shape
    u16 = rng.integers(60000, 65536, size=(h, w)).astype(np.uint16)
    u16[L == 50] = 64000
    u16[L == 61] = 0
    u16[33, 41] = u16[34, 43] = u16[35, 40] = 65535  # ties at the maximum: first in raster order wins
    u8 = rng.integers(240, 256, size=(h, w)).astype(np.uint8)
    u8[L == 50] = 250
    u8[L == 61] = 0
    u8[34, 41] = u8[34, 44] = 255
    f32 = (rng.normal(100, 30, size=(h, w))).astype(np.float32)
    f32[L == 50] = np.float32(12.5)
    f32[L == 61] = 0
    f32[L == 70] = np.nan
    f32[21, 21] = np.nan
    f32[22, 23] = np.inf
    f32[27, 31] = -np.inf
    f32[28, 12] = np.nan
    f32[20, 20] = np.float32(-50.25)  # a negative value
    return {"uint16": u16, "uint8": u8, "float32": f32}


def jsonable_image(a):
    return [None if not math.isfinite(float(x)) else (float(x) if a.dtype.kind == "f" else int(x)) for x in a.ravel()]


def drosophila_labels(data):
    files = sorted((data / "drosophila-seq1").glob("*.tif"))
    img = tifffile.imread(files[0])
    assert img.ndim == 3 and img.shape[2] == 3, img.shape
    g = img[:, :, 1]
    sm = filters.gaussian(g.astype(np.float64), sigma=2, mode="nearest", truncate=4.0, preserve_range=True)
    t = filters.threshold_otsu(sm)
    lab = measure.label(sm > t, connectivity=1)
    lab = morphology.remove_small_objects(lab, min_size=20)
    return files[0], g, lab.astype(np.int32), float(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    rng = np.random.default_rng(20261122)
    cases = []
    L = synthetic_labels()
    ids, shape, notes = shape_features(L)
    images = synthetic_images(L, rng)
    for dtype, im in images.items():
        icols, checked = intensity_features(L, im)
        cases.append({"name": f"synthetic-{dtype}", "source": {"kind": "inline"}, "width": L.shape[1],
                      "height": L.shape[0], "dtype": dtype, "labelsRle": rle(L), "image": jsonable_image(im),
                      "ids": ids, "shape": shape, "intensity": icols, "notes": notes,
                      "regionpropsChecked": checked})
    # Random blobs (shape only): exercises the convex hull and the perimeter codes.
    noise = ndi.gaussian_filter(rng.normal(size=(96, 112)), 2.0)
    blobs = measure.label(noise > 0.12, connectivity=1).astype(np.int32)
    blobs[rng.random(blobs.shape) < 0.004] = 1000  # scattered single pixels under one label
    ids, shape, notes = shape_features(blobs)
    cases.append({"name": "random-blobs", "source": {"kind": "inline"}, "width": blobs.shape[1],
                  "height": blobs.shape[0], "labelsRle": rle(blobs), "ids": ids, "shape": shape, "notes": notes})
    if args.data.is_dir():
        path, g, lab, t = drosophila_labels(args.data)
        ids, shape, notes = shape_features(lab)
        icols, checked = intensity_features(lab, g)
        cases.append({"name": "drosophila-frame0-green", "source": {
            "kind": "shared", "path": "data/drosophila-seq1/" + path.name, "channel": 1,
            "segmentation": "gaussian(sigma=2, mode=nearest, truncate=4, preserve_range) > threshold_otsu; "
                            "label(connectivity=1); remove_small_objects(min_size=20)",
            "otsu": t, "greenSum": int(g.astype(np.int64).sum())},
            "width": int(g.shape[1]), "height": int(g.shape[0]), "dtype": "uint8",
            "labelsRle": rle(lab), "ids": ids, "shape": shape, "intensity": icols, "notes": notes,
            "regionpropsChecked": checked})
    else:
        print(f"warning: {args.data} not found; real-data case copied from the existing JSON", file=sys.stderr)
        if OUT.exists():
            old = json.loads(OUT.read_text())
            cases += [c for c in old["cases"] if c["source"]["kind"] == "shared"]
    out = {"generator": "tools/golden/features.py", "numpy": np.__version__, "scipy": scipy.__version__,
           "skimage": skimage.__version__, "tifffile": tifffile.__version__,
           "conventions": "X = column, Y = row, 0-based pixel centres; null = undefined; "
                          "labelsRle = row-major [value, run, ...]; image row-major, null = NaN/Inf (see infs)",
           "cases": cases}
    # JSON has no Inf: record where the float image holds +-Inf.
    for c in out["cases"]:
        if c.get("dtype") == "float32" and "image" in c:
            im = images["float32"]
            c["infs"] = [[int(i), 1 if im.ravel()[i] > 0 else -1] for i in np.flatnonzero(np.isinf(im.ravel()))]
            c["nans"] = [int(i) for i in np.flatnonzero(np.isnan(im.ravel()))]
    OUT.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
