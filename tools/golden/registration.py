#!/usr/bin/python3
"""Independent float64 reference for rigid registration (docs/registration.md).

Writes test/golden/registration.json (golden values for the TypeScript kernels)
and the small synthetic fixture movies under test/fixtures/registration/.

Usage: /usr/bin/python3 tools/golden/registration.py [--data DIR] [--out FILE] [--quiet]

DIR defaults to ../shared/data beside the repository. Without it the real-data
cases are carried over unchanged from the existing JSON (if any), with a warning.
Needs python3-numpy, python3-scipy, python3-skimage, python3-tifffile and
/usr/bin/ffmpeg. See tools/golden/README.md.

This is written from the spec alone; it shares no code with src/kernels.
Sign convention (DESIGN.md): frame(y, x) ~ template(y - dy, x - dx).
"""
import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy
import skimage
import tifffile
from scipy import ndimage as ndi
from skimage.registration import phase_cross_correlation

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "test" / "fixtures" / "registration"
OUT = REPO / "test" / "golden" / "registration.json"
DEFAULT_DATA = REPO.parent / "shared" / "data"

FFMPEG_ARGS = ["-hide_banner", "-loglevel", "error", "-nostdin", "-i", "{FILE}",
               "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "gray", "-"]

DEFAULTS = {
    "channel": 0,
    "prefilter": "none",
    "dogSigmaLow": 1.0,
    "dogSigmaHigh": 8.0,
    "window": "tukey",
    "windowFraction": 0.25,
    "windowCorrection": "on",
    "normalization": "none",
    "phaseSigma": 1.0,
    "maxShift": None,          # None: floor(0.1 * min(H, W))
    "templateFrames": 30,
    "templateUpdate": "none",
    # Thresholds of the ok rule, used both in the bootstrap (choice of U) and for
    # the reported (held) shift. 0/0: only the rim rule and peak >= 0 apply.
    "minPeak": 0.0,
    "minQuality": 0.0,
}


def r12(v):
    """Round to 12 significant digits (1e-9 relative is plenty); None stays None."""
    if v is None:
        return None
    v = float(v)
    if not math.isfinite(v):
        return None
    return float(f"{v:.12g}")


def round_half_up(x):
    """round() as JavaScript's Math.round for x >= 0 (Python's round is half-to-even)."""
    return int(math.floor(x + 0.5))


# ---------------------------------------------------------------- section 1

def to_float_image(plane_or_rgb, channel):
    """A single plane as float64: channel pick on a (C, H, W) planar stack, or luminance."""
    a = np.asarray(plane_or_rgb)
    if a.ndim == 2:
        if channel not in (0, None):
            raise ValueError("channel pick on a single-plane frame")
        img = a.astype(np.float64)
    elif channel == "luminance":
        if a.shape[0] != 3:
            raise ValueError("luminance needs 3 planes")
        p = a.astype(np.float64)
        img = 0.2125 * p[0] + 0.7154 * p[1] + 0.0721 * p[2]
    else:
        img = a[int(channel)].astype(np.float64)
    finite = np.isfinite(img)
    if not finite.all():
        fill = img[finite].mean() if finite.any() else 0.0
        img = np.where(finite, img, fill)
    return img


def prefilter(img, p):
    if p["prefilter"] == "none":
        return img
    if p["prefilter"] != "dog":
        raise ValueError(p["prefilter"])
    lo = ndi.gaussian_filter(img, p["dogSigmaLow"], truncate=4.0, mode="nearest")
    hi = ndi.gaussian_filter(img, p["dogSigmaHigh"], truncate=4.0, mode="nearest")
    return lo - hi


# ---------------------------------------------------------------- section 2

def is_fast(n):
    if n % 4:
        return False
    for q in (2, 3, 5):
        while n % q == 0:
            n //= q
    return n == 1


def fast_size(n):
    m = max(4, n)
    while not is_fast(m):
        m += 1
    return m


def tukey_ramp(n, r):
    w = np.ones(n)
    if r <= 0:
        return w
    i = np.arange(n)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (i + 0.5) / r)
    lo = i < r
    w[lo] = ramp[lo]
    hi = i >= n - r
    w[hi] = ramp[n - 1 - i[hi]]   # mirrored: w(i) = w(n - 1 - i)
    return w


def window_1d(kind, n, padded, fraction):
    if kind == "hann":
        i = np.arange(n)
        return 0.5 - 0.5 * np.cos(2 * np.pi * (i + 0.5) / n)
    if kind == "tukey":
        return tukey_ramp(n, max(1, round_half_up(fraction * n / 2)))
    if kind == "none":
        return tukey_ramp(n, min(8, n // 4)) if padded else np.ones(n)
    raise ValueError(kind)


class Geometry:
    def __init__(self, h, w, p):
        self.h, self.w = h, w
        self.hp, self.wp = fast_size(h), fast_size(w)
        self.wy = window_1d(p["window"], h, self.hp > h, p["windowFraction"])
        self.wx = window_1d(p["window"], w, self.wp > w, p["windowFraction"])
        m = p["maxShift"]
        if m is None:
            m = int(math.floor(0.1 * min(h, w)))
        self.M = int(min(m, min(self.hp // 2, self.wp // 2) - 1))
        # Window autocorrelation A(s) = sum_i w(i) w((i - s) mod np) / sum w^2, lags -(M+1)..M+1
        # (docs/registration.md section 4, window-bias correction); ones when off.
        lags = np.arange(-self.M - 1, self.M + 2)
        on = p.get("windowCorrection", "on") == "on"
        self.Ay = self.window_autocorr(self.wy, self.hp, lags) if on else np.ones(lags.size)
        self.Ax = self.window_autocorr(self.wx, self.wp, lags) if on else np.ones(lags.size)
        self.normalization = p["normalization"]
        ky = np.fft.fftfreq(self.hp) * self.hp
        kx = np.fft.fftfreq(self.wp) * self.wp
        s = p["phaseSigma"]
        self.G = np.exp(-2 * np.pi ** 2 * s * s * ((ky[:, None] / self.hp) ** 2 + (kx[None, :] / self.wp) ** 2))
        self.phase_scale = self.G.sum() / (self.hp * self.wp)
        # search window coordinates, iy ascending then ix ascending (row-major argmax = tie rule)
        self.offs = np.arange(-self.M, self.M + 1)

    @staticmethod
    def window_autocorr(w, npad, lags):
        wp = np.zeros(npad)
        wp[: w.size] = w
        return np.array([np.dot(wp, np.roll(wp, s)) for s in lags]) / np.dot(w, w)

    def prepare(self, img):
        g = (img - img.mean()) * self.wy[:, None] * self.wx[None, :]
        out = np.zeros((self.hp, self.wp))
        out[: self.h, : self.w] = g
        return out, float((g * g).sum())


class TemplateSpectrum:
    def __init__(self, geo, template):
        self.geo = geo
        g, self.E = geo.prepare(template)
        self.T = np.fft.fft2(g)


def circ_dist(a, b, n):
    d = np.abs(a - b) % n
    return np.minimum(d, n - d)


# ---------------------------------------------------------------- sections 3-5

def register(ts, img):
    """Raw measurement of one float image against a TemplateSpectrum: dict without ok/hold."""
    geo = ts.geo
    g, E = geo.prepare(img)
    C = np.fft.fft2(g) * np.conj(ts.T)
    if geo.normalization == "none":
        R = C
    elif geo.normalization == "phase":
        eps = 1e-6 * np.abs(C).mean()
        R = C / (np.abs(C) + eps) * geo.G
    else:
        raise ValueError(geo.normalization)
    c = np.real(np.fft.ifft2(R))
    hp, wp, M = geo.hp, geo.wp, geo.M
    win = c[np.ix_(geo.offs % hp, geo.offs % wp)]
    a, b = np.unravel_index(int(np.argmax(win)), win.shape)
    iy, ix = int(geo.offs[a]), int(geo.offs[b])
    c0 = c[iy % hp, ix % wp]

    def delta(cm, cn, cp):
        den = cm - 2 * cn + cp
        return 0.0 if den == 0 else 0.5 * (cm - cp) / den

    # Refinement on c / (A_y A_x) (window-bias correction); index of lag s is s + M + 1.
    Ay, Ax, oy, ox = geo.Ay, geo.Ax, iy + M + 1, ix + M + 1
    n0 = c0 / (Ay[oy] * Ax[ox])
    dy = iy + delta(c[(iy - 1) % hp, ix % wp] / (Ay[oy - 1] * Ax[ox]), n0,
                    c[(iy + 1) % hp, ix % wp] / (Ay[oy + 1] * Ax[ox]))
    dx = ix + delta(c[iy % hp, (ix - 1) % wp] / (Ay[oy] * Ax[ox - 1]), n0,
                    c[iy % hp, (ix + 1) % wp] / (Ay[oy] * Ax[ox + 1]))

    if geo.normalization == "none":
        peak = None if (E == 0 or ts.E == 0) else c0 / math.sqrt(E * ts.E)
    else:
        peak = c0 / geo.phase_scale
    ey = circ_dist(geo.offs, iy, hp)[:, None] <= 2
    ex = circ_dist(geo.offs, ix, wp)[None, :] <= 2
    rest = win[~(ey & ex)]
    quality = None
    if rest.size >= 16:
        sd = rest.std()   # population
        if sd > 0:
            quality = (c0 - rest.mean()) / sd
    return {"iy": iy, "ix": ix, "dy": float(dy), "dx": float(dx), "peak": peak, "quality": quality,
            "surface": c}


def is_ok(r, M, p):
    quality_ok = p["minQuality"] <= 0 or (r["quality"] is not None and r["quality"] >= p["minQuality"])
    return (r["peak"] is not None and r["peak"] >= p["minPeak"] and quality_ok
            and abs(r["iy"]) < M and abs(r["ix"]) < M)


# ---------------------------------------------------------------- section 6

def warp(f, ty, tx):
    """out(y, x) = f(y - ty, x - tx), bilinear, border nearest (clamped coordinates)."""
    return ndi.shift(f, (ty, tx), order=1, mode="nearest")


def warp_selftest():
    """ndi.shift(f, (-dy, -dx), order=1, mode='nearest') == f(clamp(y+dy), clamp(x+dx)) bilinear."""
    rng = np.random.default_rng(3)
    f = rng.normal(size=(5, 7))
    H, W = f.shape
    for dy, dx in [(0.3, -1.7), (2.0, -1.0), (0.5, -0.5), (-3.2, 4.9), (7.5, -8.0), (-0.25, 0.75)]:
        ref = np.empty_like(f)
        for y in range(H):
            for x in range(W):
                yy = min(max(y + dy, 0.0), H - 1.0)
                xx = min(max(x + dx, 0.0), W - 1.0)
                y0, x0 = int(math.floor(yy)), int(math.floor(xx))
                fy, fx = yy - y0, xx - x0
                y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
                ref[y, x] = ((1 - fy) * (1 - fx) * f[y0, x0] + (1 - fy) * fx * f[y0, x1]
                             + fy * (1 - fx) * f[y1, x0] + fy * fx * f[y1, x1])
        got = warp(f, -dy, -dx)
        assert np.abs(got - ref).max() < 1e-12, (dy, dx)
    # integer shift: exact copy; half-pixel: exact mean of two neighbours
    g = warp(f, -2.0, 1.0)
    assert np.array_equal(g[0:3, 1:7], f[2:5, 0:6])
    h = warp(f, 0.0, -0.5)
    assert np.abs(h[:, :-1] - 0.5 * (f[:, :-1] + f[:, 1:])).max() < 1e-15


def correlation_selftest():
    """c[d] = sum_x g_f(x) g_t(x - d) (circular) for `none`, and a frame moved right has dx > 0."""
    rng = np.random.default_rng(4)
    p = dict(DEFAULTS)
    t = rng.normal(size=(12, 16))
    f = np.roll(t, (2, 3), axis=(0, 1))         # f(y, x) = t(y - 2, x - 3)
    geo = Geometry(12, 16, dict(p, maxShift=5))
    ts = TemplateSpectrum(geo, t)
    r = register(ts, f)
    gf, _ = geo.prepare(f)
    gt, _ = geo.prepare(t)
    for d in [(0, 0), (2, 3), (-1, 4), (5, -5)]:
        direct = (gf * np.roll(gt, d, axis=(0, 1))).sum()
        assert abs(direct - r["surface"][d[0] % geo.hp, d[1] % geo.wp]) < 1e-9
    assert (r["iy"], r["ix"]) == (2, 3), r


# ---------------------------------------------------------------- section 7

def loo_template(S, aligned, U, i):
    """The template without frame i's own contribution (leave-one-out, section 7)."""
    if i in U and len(U) > 1:
        return (S - aligned[i]) / (len(U) - 1)
    return S / len(U)


def bootstrap(imgs, geo, p):
    """Section 7: returns T2, the rounds, U, and (S, aligned) for the leave-one-out final pass."""
    n = min(p["templateFrames"], len(imgs))
    boot = imgs[:n]
    aligned = [b.copy() for b in boot]
    U = list(range(n))
    rounds = []
    for k in (1, 2):
        S = np.sum([aligned[i] for i in U], axis=0)
        res = []
        for i in range(n):
            r = register(TemplateSpectrum(geo, loo_template(S, aligned, U, i)), boot[i])
            r.pop("surface")
            r["ok"] = is_ok(r, geo.M, p)
            res.append(r)
        U = [i for i, r in enumerate(res) if r["ok"]] or list(range(n))
        mbar = np.array([[res[i]["dy"], res[i]["dx"]] for i in U]).mean(axis=0)
        aligned = [warp(boot[i], -(res[i]["dy"] - mbar[0]), -(res[i]["dx"] - mbar[1])) for i in range(n)]
        rounds.append({"round": k, "used": [int(i) for i in U],
                       "meanShift": {"dy": r12(mbar[0]), "dx": r12(mbar[1])}})
    S = np.sum([aligned[i] for i in U], axis=0)
    return S / len(U), rounds, U, S, aligned


def register_movie(geo, T2, S, aligned, U, imgs, p):
    """Every frame against T2, except that bootstrap frame i uses the leave-one-out template;
    ok rule and hold of the last good shift, starting at (0, 0)."""
    n_boot = len(aligned)
    ts2 = TemplateSpectrum(geo, T2)
    out, last = [], (0.0, 0.0)
    for i, img in enumerate(imgs):
        ts = TemplateSpectrum(geo, loo_template(S, aligned, U, i)) if i < n_boot else ts2
        r = register(ts, img)
        r.pop("surface")
        r["ok"] = is_ok(r, geo.M, p)
        if r["ok"]:
            last = (r["dy"], r["dx"])
        r["shift"] = last
        out.append(r)
    return out


def template_summary(T):
    h, w = T.shape
    pts = [(0, 0), (h // 2, w // 2), (h - 1, w - 1), (h // 3, (2 * w) // 3), ((3 * h) // 4, w // 5)]
    return {"mean": r12(T.mean()), "std": r12(T.std()),
            "samples": [[int(y), int(x), r12(T[y, x])] for y, x in pts]}


def skimage_shift(ref, mov):
    """Ours = minus skimage's: skimage returns the shift that registers `mov` onto `ref`
    (its product is F_ref * conj(F_mov)), i.e. mov(y) = ref(y + s) -> ours is -s."""
    s, _, _ = phase_cross_correlation(ref, mov, upsample_factor=100, normalization=None)
    return -float(s[0]), -float(s[1])


def skimage_selftest():
    rng = np.random.default_rng(5)
    t = ndi.gaussian_filter(rng.normal(size=(40, 48)), 2)
    f = np.roll(t, (3, -5), axis=(0, 1))        # moved down 3, left 5 -> ours (3, -5)
    dy, dx = skimage_shift(t, f)
    assert abs(dy - 3) < 1e-9 and abs(dx + 5) < 1e-9, (dy, dx)


def run_case(name, source, imgs, params, truth=None, extra=None):
    p = dict(DEFAULTS)
    p.update(params)
    h, w = imgs[0].shape
    geo = Geometry(h, w, p)
    fimgs = [prefilter(im, p) for im in imgs]
    T2, rounds, U, S, aligned = bootstrap(fimgs, geo, p)
    res = register_movie(geo, T2, S, aligned, U, fimgs, p)
    # skimage: on the raw (prefiltered) images as asked, and on the prepared (mean-subtracted,
    # windowed, padded) images, where the only difference left is parabolic vs upsampled DFT.
    gt, _ = geo.prepare(T2)
    frames = []
    for seq, (r, f) in enumerate(zip(res, fimgs)):
        sk = skimage_shift(T2, f)
        gf, _ = geo.prepare(f)
        skp = skimage_shift(gt, gf)
        fr = {"seq": seq, "iy": r["iy"], "ix": r["ix"], "dy": r12(r["dy"]), "dx": r12(r["dx"]),
              "peak": r12(r["peak"]), "quality": r12(r["quality"]), "ok": r["ok"],
              "shift": {"dy": r12(r["shift"][0]), "dx": r12(r["shift"][1])}}
        if truth is not None:
            fr["truth"] = {"dy": r12(truth[seq][0]), "dx": r12(truth[seq][1])}
        fr["skimage"] = {"dy": r12(sk[0]), "dx": r12(sk[1])}
        fr["skimagePrepared"] = {"dy": r12(skp[0]), "dx": r12(skp[1])}
        frames.append(fr)
    pj = dict(p)
    pj["maxShift"] = params.get("maxShift")   # as configured (null = default); effective M below
    case = {"name": name, "source": source, "params": pj, "height": h, "width": w,
            "hp": geo.hp, "wp": geo.wp, "maxShift": geo.M, "frameCount": len(imgs),
            "bootstrap": {"frames": min(p["templateFrames"], len(imgs)), "rounds": rounds},
            "template": template_summary(T2)}
    if extra:
        case.update(extra)
    if truth is not None:
        off = np.asarray(truth)[U].mean(axis=0)
        case["templateTruthOffset"] = {"dy": r12(off[0]), "dx": r12(off[1]),
                                       "over": "frames used in the last bootstrap round"}
    case["frames"] = frames
    case["summary"] = summarize(case, truth)
    return case


def rms(a):
    a = np.asarray(a, dtype=np.float64)
    return r12(np.sqrt(np.mean(a ** 2))) if a.size else None


def summarize(case, truth):
    fr = [f for f in case["frames"] if f["ok"]]
    d = lambda f: np.array([f["dy"], f["dx"]])
    s = {"okFrames": len(fr), "frames": len(case["frames"])}
    s["rmsVsSkimage"] = rms([d(f) - np.array([f["skimage"]["dy"], f["skimage"]["dx"]]) for f in fr])
    s["rmsVsSkimagePrepared"] = rms([d(f) - np.array([f["skimagePrepared"]["dy"], f["skimagePrepared"]["dx"]])
                                     for f in fr])
    if truth is not None:
        off = np.array([case["templateTruthOffset"]["dy"], case["templateTruthOffset"]["dx"]])
        t = lambda f: np.array([f["truth"]["dy"], f["truth"]["dx"]]) - off
        s["rmsVsTruth"] = rms([d(f) - t(f) for f in fr])
        s["rmsSkimageVsTruth"] = rms([np.array([f["skimage"]["dy"], f["skimage"]["dx"]]) - t(f) for f in fr])
        s["rmsSkimagePreparedVsTruth"] = rms(
            [np.array([f["skimagePrepared"]["dy"], f["skimagePrepared"]["dx"]]) - t(f) for f in fr])
    s["note"] = "RMS over ok frames, both axes pooled, pixels"
    return s


# ---------------------------------------------------------------- synthetic fixtures

def blob_field(rng, h, w, pad, density, sigma, amp):
    n = int(round((h + 2 * pad) * (w + 2 * pad) * density))
    return (rng.uniform(-pad, h + pad, n), rng.uniform(-pad, w + pad, n),
            rng.uniform(*sigma, n), rng.uniform(*amp, n))


def render(blobs, h, w, dy, dx):
    """Frame content moved by (dy, dx): frame(y, x) = scene(y - dy, x - dx), analytic."""
    by, bx, s, a = blobs
    yy = np.arange(h, dtype=np.float64)[:, None, None]
    xx = np.arange(w, dtype=np.float64)[None, :, None]
    e = np.exp(-((yy - dy - by) ** 2 + (xx - dx - bx) ** 2) / (2 * s * s))
    return (a * e).sum(axis=2)


FIXTURE_SPECS = [
    # name, file, h, w, frames, dtype, seed, shift range, background, blob sigma, amplitudes, density
    dict(name="synthetic-64x80", file="synthetic-64x80.tif", h=64, w=80, n=12, dtype="uint16", seed=101,
         shift=4.0, bg=100.0, sigma=(1.5, 3.5), amp=(200, 1500), density=1 / 60),
    dict(name="synthetic-odd-45x71", file="synthetic-odd-45x71.tif", h=45, w=71, n=10, dtype="float32",
         seed=202, shift=2.5, bg=100.0, sigma=(1.5, 3.5), amp=(200, 1500), density=1 / 60,
         rim_frame=6, rim_shift=(-0.4, 6.2),
         nonfinite=[(2, 10, 20, "nan"), (2, 30, 5, "nan"), (5, 44, 70, "inf"), (8, 0, 0, "-inf")]),
    dict(name="synthetic-phase", file="synthetic-phase-64x80.tif", h=64, w=80, n=12, dtype="uint16",
         seed=303, shift=4.0, bg=20.0, sigma=(1.5, 3.5), amp=(4, 25), density=1 / 60),
    dict(name="synthetic-uint16-48x48-dog", file="synthetic-uint16-48x48-dog.tif", h=48, w=48, n=10,
         dtype="uint16", seed=404, shift=2.5, bg=300.0, sigma=(1.0, 2.2), amp=(150, 900), density=1 / 50,
         illumination=(3000.0, 10.0, 40.0, 30.0)),
]


def make_fixture(spec):
    rng = np.random.default_rng(spec["seed"])
    h, w, n = spec["h"], spec["w"], spec["n"]
    pad = int(math.ceil(spec["shift"])) + 12
    if "rim_shift" in spec:
        pad = max(pad, int(math.ceil(max(map(abs, spec["rim_shift"])))) + 12)
    blobs = blob_field(rng, h, w, pad, spec["density"], spec["sigma"], spec["amp"])
    shifts = rng.uniform(-spec["shift"], spec["shift"], (n, 2))
    if "rim_frame" in spec:
        shifts[spec["rim_frame"]] = spec["rim_shift"]
    frames = []
    for dy, dx in shifts:
        img = spec["bg"] + render(blobs, h, w, dy, dx)
        if "illumination" in spec:   # static (not moving) uneven illumination, removed by the DoG
            a, cy, cx, s = spec["illumination"]
            yy, xx = np.mgrid[0:h, 0:w]
            img = img + a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        frames.append(rng.poisson(img).astype(np.float64))
    stack = np.stack(frames)
    if spec["dtype"] == "uint16":
        stack = np.clip(stack, 0, 65535).astype("<u2")
    else:
        stack = stack.astype("<f4")
        for (k, y, x, kind) in spec.get("nonfinite", []):
            stack[k, y, x] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[kind]
    FIXTURES.mkdir(parents=True, exist_ok=True)
    path = FIXTURES / spec["file"]
    tifffile.imwrite(path, stack, byteorder="<", photometric="minisblack", compression=None,
                     metadata=None, software=None)
    return path, shifts


def read_tiff_pages(path):
    with tifffile.TiffFile(path) as t:
        return [pg.asarray() for pg in t.pages]


def fixture_cases():
    cases = []
    for spec in FIXTURE_SPECS:
        path, shifts = make_fixture(spec)
        pages = read_tiff_pages(path)           # compute from the file as written
        assert len(pages) == spec["n"] and pages[0].shape == (spec["h"], spec["w"])
        imgs = [to_float_image(pg, 0) for pg in pages]
        rel = str(path.relative_to(REPO))
        src = {"kind": "fixture", "path": rel, "dtype": spec["dtype"], "pages": spec["n"]}
        info = {"fixture": {k: spec[k] for k in ("seed", "shift", "bg", "sigma", "amp", "density")
                            if k in spec}}
        info["fixture"]["noise"] = "poisson"
        if "nonfinite" in spec:
            info["fixture"]["nonFinite"] = [{"page": k, "y": y, "x": x, "value": v}
                                            for k, y, x, v in spec["nonfinite"]]
        if "rim_frame" in spec:
            info["fixture"]["rimFrame"] = spec["rim_frame"]
        if "illumination" in spec:
            info["fixture"]["staticIllumination"] = dict(zip(("amp", "y", "x", "sigma"), spec["illumination"]))
        base = {}
        if spec["name"] == "synthetic-phase":
            base = {"normalization": "phase"}
        if spec["name"] == "synthetic-uint16-48x48-dog":
            base = {"prefilter": "dog", "dogSigmaLow": 1.0, "dogSigmaHigh": 8.0}
        cases.append(run_case(spec["name"], src, imgs, base, truth=shifts, extra=info))
        if spec["name"] == "synthetic-odd-45x71":
            cases.append(run_case("synthetic-odd-45x71-hann", src, imgs,
                                  {"window": "hann"}, truth=shifts, extra=info))
            cases.append(run_case("synthetic-odd-45x71-nocorrection", src, imgs,
                                  {"windowCorrection": "off"}, truth=shifts, extra=info))
            cases.append(run_case("synthetic-odd-45x71-none", src, imgs, {"window": "none"},
                                  truth=shifts, extra=info))
        if spec["name"] == "synthetic-uint16-48x48-dog":
            cases.append(run_case("synthetic-uint16-48x48-nodog", src, imgs, {}, truth=shifts, extra=info))
    return cases


# ---------------------------------------------------------------- real data

def read_video_gray(path):
    args = ["/usr/bin/ffmpeg"] + [str(path) if a == "{FILE}" else a for a in FFMPEG_ARGS]
    raw = subprocess.run(args, check=True, stdout=subprocess.PIPE).stdout
    probe = subprocess.run(["/usr/bin/ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", str(path)],
                           check=True, stdout=subprocess.PIPE, text=True).stdout.strip().split(",")
    w, h = int(probe[0]), int(probe[1])
    a = np.frombuffer(raw, np.uint8)
    assert a.size % (w * h) == 0
    return a.reshape(-1, h, w), w, h


def natural_key(s):
    import re
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def real_cases(data):
    cases = []
    # stuck.tif
    pages = read_tiff_pages(data / "stuck.tif")
    assert len(pages) == 5 and pages[0].shape == (512, 512) and pages[0].dtype == np.uint16
    cases.append(run_case("stuck", {"kind": "tiff", "path": "data/stuck.tif", "read": "tifffile, all pages",
                                    "dtype": "uint16"},
                          [to_float_image(p, 0) for p in pages], {}))
    # bulk-water.mov
    v, w, h = read_video_gray(data / "bulk-water.mov")
    assert (w, h) == (640, 424) and v.shape[0] == 480, (w, h, v.shape)
    cases.append(run_case("bulk-water", {"kind": "video", "path": "data/bulk-water.mov", "dtype": "uint8",
                                         "read": "ffmpeg " + " ".join(FFMPEG_ARGS)},
                          [to_float_image(f, 0) for f in v], {}))
    # drosophila sequence: RGB uint8 (H, W, 3) contiguous in the file -> planar (3, H, W) like a Frame
    files = sorted((p.name for p in (data / "drosophila-seq1").glob("*.tif")), key=natural_key)
    assert len(files) == 21
    planar = []
    for fn in files:
        a = tifffile.imread(data / "drosophila-seq1" / fn)
        assert a.shape == (264, 542, 3) and a.dtype == np.uint8, a.shape
        planar.append(np.moveaxis(a, -1, 0))
    src = {"kind": "sequence", "path": "data/drosophila-seq1", "files": files, "dtype": "uint8",
           "read": "tifffile, RGB (264, 542, 3) -> planar channels"}
    for name, params in [("drosophila", {"channel": 1}),
                         ("drosophila-phase", {"channel": 1, "normalization": "phase"}),
                         ("drosophila-luminance", {"channel": "luminance"})]:
        ch = params["channel"]
        cases.append(run_case(name, src, [to_float_image(p, ch) for p in planar], params))
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    warp_selftest()
    correlation_selftest()
    skimage_selftest()

    cases = fixture_cases()
    real_names = {"stuck", "bulk-water", "drosophila", "drosophila-phase", "drosophila-luminance"}
    if args.data.is_dir():
        cases += real_cases(args.data)
    else:
        print(f"warning: {args.data} not found: real-data cases carried over from {args.out}", file=sys.stderr)
        if args.out.exists():
            old = json.loads(args.out.read_text())
            cases += [c for c in old["cases"] if c["name"] in real_names]

    doc = {"generator": "tools/golden/registration.py", "numpy": np.__version__, "scipy": scipy.__version__,
           "skimage": skimage.__version__, "tifffile": tifffile.__version__, "spec": "docs/registration.md",
           "conventions": {
               "seq": "0-based frame index in the source",
               "iy,ix,dy,dx,peak,quality": "raw measurement against the bootstrap template T2, before the ok/hold rule",
               "ok": "ok rule with params.minPeak / params.minQuality (null peak or quality is not ok)",
               "shift": "reported shift after the hold rule (last good, (0,0) before any; the hold starts at seq 0)",
               "truth": "content displacement of the fixture frame (frame(y,x)=scene(y-dy,x-dx)); "
                        "expected dy ~ truth.dy - templateTruthOffset.dy",
               "skimage": "-phase_cross_correlation(T2, frame, upsample_factor=100, normalization=None)[0] "
                          "on the (prefiltered) float frame; negated to our sign",
               "skimagePrepared": "same call on P(T2), P(frame) (mean-subtracted, windowed, zero-padded)",
               "template": "T2 summary: mean, population std, samples [y, x, value]",
           },
           "cases": cases}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    # one frame per line keeps diffs readable
    text = text.replace(',{"seq":', ',\n{"seq":').replace('[{"seq":', '[\n{"seq":')
    args.out.write_text(text + "\n")
    if not args.quiet:
        for c in cases:
            print(json.dumps({"case": c["name"], "hp": c["hp"], "wp": c["wp"], "M": c["maxShift"],
                              **{k: v for k, v in c["summary"].items() if k != "note"}}))


if __name__ == "__main__":
    main()
