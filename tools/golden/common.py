"""What the golden-value generators share: how floats and label images go into their JSON."""
import math

import numpy as np


def r17(v):
    """Floats at full precision (repr round-trips); None and non-finite values -> None."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def rle(labels):
    """Row-major runs [value, length, value, length, ...] of a label image."""
    flat = labels.ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [flat.size]])
    out = []
    for s, e in zip(starts, ends):
        out += [int(flat[s]), int(e - s)]
    return out
