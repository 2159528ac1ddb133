#!/usr/bin/env python3
"""Push frames to scopestream's raw-frame socket (`--source tcp://HOST:PORT`).

The protocol (docs/ingest-tcp.md): per frame a 40-byte little-endian header,
then the pixels, channel-planar. scopestream only ever answers to refuse:
one line `ERR <reason>` before it closes the connection.

    scopestream run --source tcp://127.0.0.1:5555 &
    python3 tools/examples/push_frames.py --port 5555 --frames 600 --fps 30

Needs numpy. `send_frame` is all a camera loop needs: copy it next to your
acquisition code (pycro-manager image hook, Bonsai Python node, vendor SDK).
"""
import argparse
import socket
import struct
import sys
import time

import numpy as np

MAGIC = b"SSFR"
VERSION = 1
# numpy kind+itemsize -> wire code
DTYPE_CODES = {"u1": 1, "u2": 2, "f4": 3}
# magic, version, dtype, reserved, width, height, channels, reserved, timestamp ms, payload bytes
HEADER = struct.Struct("<4sHBBIIIIdQ")
assert HEADER.size == 40


def send_frame(sock, frame, t_ms=float("nan")):
    """Sends one frame: a (height, width) or (channels, height, width) array of
    uint8, uint16 or float32. `t_ms` is the acquisition time in ms (NaN: let
    scopestream stamp the arrival time)."""
    a = np.asarray(frame)
    if a.ndim == 2:
        a = a[np.newaxis]
    if a.ndim != 3:
        raise ValueError(f"frame must be 2-D or 3-D (channels, height, width), got shape {a.shape}")
    code = DTYPE_CODES.get(f"{a.dtype.kind}{a.dtype.itemsize}")
    if code is None:
        raise ValueError(f"dtype {a.dtype} is not sent; use uint8, uint16 or float32")
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    c, h, w = a.shape
    sock.sendall(HEADER.pack(MAGIC, VERSION, code, 0, w, h, c, 0, t_ms, a.nbytes))
    sock.sendall(memoryview(a).cast("B"))


def refusal(sock):
    """The ERR line scopestream sent before closing, or None."""
    sock.settimeout(2.0)
    data = b""
    try:
        while not data.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    line = data.decode("utf-8", "replace").strip()
    return line or None


def ramp(k, channels, height, width, dtype):
    """Exact test pattern: (7x + 13y + 31k + 101c) mod 256 (uint8) or 65536, /16 for float32."""
    c, y, x = np.indices((channels, height, width), dtype=np.int64)
    v = (7 * x + 13 * y + 31 * k + 101 * c) % (256 if dtype == np.uint8 else 65536)
    return (v / 16).astype(np.float32) if dtype == np.float32 else v.astype(dtype)


class Spots:
    """A specimen of Gaussian spots drifting by a random walk, with shot and read noise.
    The field is rendered once, larger than the frame; each frame is a crop of it."""

    MARGIN = 16

    def __init__(self, channels, height, width, dtype, seed):
        self.rng = np.random.default_rng(seed)
        self.shape = (channels, height, width)
        self.dtype = dtype
        m = self.MARGIN
        fh, fw = height + 2 * m, width + 2 * m
        yy, xx = np.mgrid[0:fh, 0:fw]
        field = np.full((fh, fw), 100.0)
        for _ in range(max(4, fh * fw // 800)):
            cy, cx, amp = self.rng.uniform(0, fh), self.rng.uniform(0, fw), self.rng.uniform(200, 1500)
            y0, y1, x0, x1 = int(max(0, cy - 12)), int(min(fh, cy + 13)), int(max(0, cx - 12)), int(min(fw, cx + 13))
            field[y0:y1, x0:x1] += amp * np.exp(-((yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2) / (2 * 3.0**2))
        self.field = field
        self.dy = self.dx = 0.0

    def frame(self):
        m = self.MARGIN
        self.dy = float(np.clip(self.dy + self.rng.normal(0, 0.5), -m, m))
        self.dx = float(np.clip(self.dx + self.rng.normal(0, 0.5), -m, m))
        c, h, w = self.shape
        y, x = m - int(round(self.dy)), m - int(round(self.dx))
        img = self.field[y : y + h, x : x + w]
        planes = self.rng.poisson(np.broadcast_to(img, (c, h, w))) + self.rng.normal(0, 5, (c, h, w))
        if self.dtype == np.uint8:
            planes = planes / 8
        top = 255 if self.dtype == np.uint8 else 65535
        return planes.astype(np.float32) if self.dtype == np.float32 else np.clip(planes, 0, top).astype(self.dtype)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--dtype", choices=["uint8", "uint16", "float32"], default="uint16")
    p.add_argument("--fps", type=float, default=0, help="frames per second (0: as fast as possible)")
    p.add_argument("--pattern", choices=["spots", "ramp"], default="spots")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    dtype = np.dtype(args.dtype).type
    spots = Spots(args.channels, args.height, args.width, dtype, args.seed)
    start = time.perf_counter()
    with socket.create_connection((args.host, args.port)) as sock:
        try:
            for k in range(args.frames):
                if args.fps > 0:
                    time.sleep(max(0.0, start + k / args.fps - time.perf_counter()))
                frame = ramp(k, args.channels, args.height, args.width, dtype) if args.pattern == "ramp" else spots.frame()
                send_frame(sock, frame, t_ms=(time.perf_counter() - start) * 1000)
            sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            why = refusal(sock)
            print(f"push_frames: {why or e}", file=sys.stderr)
            return 1
        why = refusal(sock)
        if why:
            print(f"push_frames: {why}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
