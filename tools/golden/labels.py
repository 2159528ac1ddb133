#!/usr/bin/env python3
"""Label images with 32-bit (and signed 8/16-bit) integer samples, written by tifffile.

Writes test/golden/labels/*.tif and test/golden/labels.json: for each file, its
size and sample type and the label values numpy holds (row-major), which the
TypeScript tests compare with what `readLabelImageFile` decodes. The files
cover what --labels must accept (uint32 and int32, SampleFormat 1 and 2,
labels above 65535 and gaps, little and big endian, BigTIFF, deflate with the
horizontal predictor, several strips) and what it must refuse (a negative
label, a label above the int32 maximum that object ids are). tifffile is the writer, so the reader is checked against another
implementation of the TIFF specification, not against our own writer.

    /usr/bin/python3 tools/golden/labels.py          # from the repository root
"""
import json
import os

import numpy as np
import tifffile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
OUT_DIR = os.path.join(ROOT, 'test', 'golden', 'labels')
JSON_PATH = os.path.join(ROOT, 'test', 'golden', 'labels.json')


def blobs(h, w, ids, dtype):
    """Rectangles of the given ids on a background of 0, in raster order of their corners."""
    a = np.zeros((h, w), dtype=dtype)
    k = 0
    for y in range(1, h - 3, 6):
        for x in range(1, w - 3, 7):
            if k == len(ids):
                return a
            a[y:y + 4, x:x + 5] = ids[k]
            k += 1
    assert k == len(ids), 'not enough room for the ids'
    return a


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    big_ids = [1, 7, 65535, 65536, 70000, 1_000_000, 2_147_483_647]  # gaps, > 65535, the int32 maximum
    cases = [
        # name, array, tifffile.imwrite keyword arguments
        ('u32_le', blobs(20, 24, big_ids, np.uint32), {}),
        ('u32_be_deflate_pred', blobs(20, 24, big_ids, np.uint32), {'byteorder': '>', 'compression': 'zlib', 'predictor': True}),
        ('i32_le_strips', blobs(20, 24, big_ids, np.int32), {'rowsperstrip': 3}),
        ('i32_bigtiff_be', blobs(20, 24, big_ids, np.int32), {'byteorder': '>', 'bigtiff': True}),
        ('i16_le', blobs(20, 24, [3, 300, 32767], np.int16), {}),
        ('i32_negative', blobs(20, 24, [5, -2, 9], np.int32), {}),
        ('u32_above_int32', blobs(20, 24, [4, 3_000_000_000], np.uint32), {}),
    ]
    out = {'cases': []}
    for name, a, kw in cases:
        path = os.path.join(OUT_DIR, f'{name}.tif')
        tifffile.imwrite(path, a, photometric='minisblack', **kw)
        with tifffile.TiffFile(path) as t:
            back = t.asarray()
            assert t.byteorder == kw.get('byteorder', '<'), name
        assert back.dtype.newbyteorder('=') == a.dtype and np.array_equal(back, a), name
        out['cases'].append({
            'name': name,
            'file': f'test/golden/labels/{name}.tif',
            'width': int(a.shape[1]),
            'height': int(a.shape[0]),
            'dtype': a.dtype.name,
            'labels': [int(v) for v in a.ravel()],
            'ids': sorted(int(v) for v in np.unique(a) if v != 0),
        })
    with open(JSON_PATH, 'w') as f:
        json.dump(out, f, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {len(cases)} files to {os.path.relpath(OUT_DIR, ROOT)} and {os.path.relpath(JSON_PATH, ROOT)}')


if __name__ == '__main__':
    main()
