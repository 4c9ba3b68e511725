"""Pixels: source stamps added into a mosaic, random fields, PSF and noise.

Each source is a small stamp; stamps of one size are computed together (vectorised) and summed
into the mosaic with one ``np.bincount`` per chunk over the rows the chunk touches. Large-scale
fields (clumpy background, PSF convolution) use FFTs.
"""

from __future__ import annotations

import numpy as np

BUCKETS = (4, 8, 16, 32, 64, 128)
_CHUNK_ENTRIES = 3_000_000


def bucket(half_size: np.ndarray) -> np.ndarray:
    """Smallest stamp half-size in BUCKETS that holds ``half_size``."""
    b = np.asarray(BUCKETS)
    idx = np.searchsorted(b, np.asarray(half_size, float), side="left")
    return b[np.minimum(idx, b.size - 1)]


def _offsets(h: int) -> np.ndarray:
    return np.arange(-h, h + 1)


def eff_stamps(fx: np.ndarray, fy: np.ndarray, a: np.ndarray, h: int) -> np.ndarray:
    """EFF profile (1 + r^2/a^2)^-1.5, integrated exactly over each pixel, unit sum per stamp.

    The double integral of (a^2 + x^2 + y^2)^-1.5 from the origin to (x, y) is
    arctan(x y / (a sqrt(a^2 + x^2 + y^2))) / a (the solid angle of a rectangle), so a pixel's
    share is a difference of four corner values. ``fx, fy``: sub-pixel offsets of the source from
    the stamp's central pixel.
    """
    edges = np.arange(-h, h + 2) - 0.5                               # 2h + 2 pixel edges
    ex = edges[None, :] - fx[:, None]                                # (N, E)
    ey = edges[None, :] - fy[:, None]
    a = a[:, None, None]
    X = ex[:, None, :]
    Y = ey[:, :, None]
    F = np.arctan(X * Y / (a * np.sqrt(a * a + X * X + Y * Y)))     # (N, E, E) [y, x]
    pix = F[:, 1:, 1:] - F[:, :-1, 1:] - F[:, 1:, :-1] + F[:, :-1, :-1]
    return _unit(pix)


def eff_stamps_elliptical(fx, fy, a, q, theta, h: int) -> np.ndarray:
    """EFF profile (1 + r_e^2/a^2)^-1.5 with axis ratio q at position angle theta (radians,
    from +x towards +y), integrated exactly over each pixel, unit sum per stamp.

    r_e^2 = q u^2 + v^2 / q (u along theta): semi-axes a / sqrt(q) and a sqrt(q), so the
    circularised core radius stays a. That map to the circular frame has determinant 1, so a
    pixel's light is the circular profile's integral over the pixel's image, a parallelogram:
    the signed sum, over its four edges, of the integral over the triangle (centre, edge).
    At q = 1 it equals ``eff_stamps`` (to rounding).
    """
    edges = np.arange(-h, h + 2) - 0.5                               # 2h + 2 pixel edges
    X = (edges[None, :] - fx[:, None])[:, None, :]                   # (N, 1, E)
    Y = (edges[None, :] - fy[:, None])[:, :, None]                   # (N, E, 1)
    c = np.cos(theta)[:, None, None]
    s = np.sin(theta)[:, None, None]
    sq = np.sqrt(q)[:, None, None]
    U = (c * X + s * Y) * sq                                         # (N, E, E) [y, x] corners
    V = (c * Y - s * X) / sq
    a = a[:, None, None]
    # Directed edges: along x from corner [j, i] to [j, i + 1]; along y from [j, i] to [j + 1, i].
    tx = _eff_triangle(U[:, :, :-1], V[:, :, :-1], U[:, :, 1:], V[:, :, 1:], a)
    ty = _eff_triangle(U[:, :-1, :], V[:, :-1, :], U[:, 1:, :], V[:, 1:, :], a)
    pix = tx[:, :-1, :] + ty[:, :, 1:] - tx[:, 1:, :] - ty[:, :, :-1]
    return _unit(np.abs(pix))


def _eff_triangle(ax, ay, bx, by, a):
    """Signed integral (in units of a^2) of (1 + r^2/a^2)^-1.5 over the triangle (0, A, B).

    In polar angle psi measured from the foot of the perpendicular (distance d) onto line AB,
    the radial integral to the line is a^2 (1 - a / sqrt(a^2 + d^2 / cos^2 psi)), whose integral
    over psi is psi - arcsin(a sin(psi) / sqrt(a^2 + d^2)).
    """
    dx, dy = bx - ax, by - ay
    length = np.hypot(dx, dy)
    ex, ey = dx / length, dy / length
    cross = ax * ey - ay * ex                                        # signed distance of line AB
    d = np.abs(cross)
    ta, tb = ax * ex + ay * ey, bx * ex + by * ey                    # positions along the line
    k = a / np.sqrt(a * a + d * d)
    ra, rb = np.hypot(ta, d), np.hypot(tb, d)
    sa = np.divide(ta, ra, out=np.zeros_like(ta), where=ra > 0)
    sb = np.divide(tb, rb, out=np.zeros_like(tb), where=rb > 0)
    val = (np.arctan2(tb, d) - np.arctan2(ta, d)) - (np.arcsin(k * sb) - np.arcsin(k * sa))
    return np.sign(cross) * val


def gaussian_stamps(fx, fy, sigma, h: int) -> np.ndarray:
    d = _offsets(h)
    dx = d[None, None, :] - fx[:, None, None]
    dy = d[None, :, None] - fy[:, None, None]
    s2 = (2.0 * sigma**2)[:, None, None]
    return _unit(np.exp(-(dx * dx + dy * dy) / s2))


def shell_stamps(fx, fy, radius, h: int, inner: float = 0.8) -> np.ndarray:
    """Projected thick spherical shell (limb-brightened ring) between inner*R and R."""
    d = _offsets(h)
    dx = d[None, None, :] - fx[:, None, None]
    dy = d[None, :, None] - fy[:, None, None]
    r2 = dx * dx + dy * dy
    R2 = (radius**2)[:, None, None]
    prof = np.sqrt(np.clip(R2 - r2, 0, None)) - np.sqrt(np.clip(inner**2 * R2 - r2, 0, None))
    return _unit(prof)


def lane_stamps(fx, fy, theta, offset, width, length, h: int) -> np.ndarray:
    """A dust lane: exp(-x^2 / 2 w^2) across, a Gaussian taper of scale ``length`` along."""
    d = _offsets(h)
    dx = d[None, None, :] - fx[:, None, None]
    dy = d[None, :, None] - fy[:, None, None]
    c = np.cos(theta)[:, None, None]
    s = np.sin(theta)[:, None, None]
    across = -s * dx + c * dy - offset[:, None, None]
    along = c * dx + s * dy
    w2 = (2.0 * width**2)[:, None, None]
    l2 = (2.0 * length**2)[:, None, None]
    return np.exp(-across * across / w2 - along * along / l2)


def _unit(stamps: np.ndarray) -> np.ndarray:
    s = stamps.sum(axis=(1, 2), keepdims=True)
    return stamps / np.where(s > 0, s, 1.0)


def deposit(layers: list[np.ndarray], x, y, weights: np.ndarray, h: int, make_stamps, *params):
    """Add stamps of half-size h centred at (x, y) into each layer, scaled per layer.

    ``weights``: (N, n_layers) total per source and layer; ``make_stamps(fx, fy, *p, h)`` returns
    (N, 2h+1, 2h+1) unit profiles. Pixels outside the mosaic are dropped.
    """
    if len(x) == 0:
        return
    ny, nx = layers[0].shape
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    order = np.argsort(y, kind="stable")
    side = 2 * h + 1
    per_chunk = max(1, _CHUNK_ENTRIES // (side * side))
    d = _offsets(h)
    for start in range(0, len(order), per_chunk):
        sel = order[start : start + per_chunk]
        ix = np.rint(x[sel]).astype(np.int64)
        iy = np.rint(y[sel]).astype(np.int64)
        stamps = make_stamps(x[sel] - ix, y[sel] - iy, *(np.asarray(q)[sel] for q in params), h)
        cols = ix[:, None, None] + d[None, None, :]
        rows = iy[:, None, None] + d[None, :, None]
        ok = (cols >= 0) & (cols < nx) & (rows >= 0) & (rows < ny)
        if not ok.any():
            continue
        flat = (rows * nx + cols)[ok]
        prof = stamps[ok]
        src = np.broadcast_to(np.arange(sel.size)[:, None, None], stamps.shape)[ok]
        lo, hi = int(flat.min()), int(flat.max()) + 1
        for li, layer in enumerate(layers):
            w = weights[sel, li]
            if not np.any(w):
                continue
            acc = np.bincount(flat - lo, weights=prof * w[src], minlength=hi - lo)
            layer.reshape(-1)[lo:hi] += acc.astype(layer.dtype)


def deposit_points(layers, x, y, weights):
    """Point sources: bilinear share of each source's flux among its 4 nearest pixels."""
    if len(x) == 0:
        return
    ny, nx = layers[0].shape
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    fx = x - x0
    fy = y - y0
    for dx, dy, share in (
        (0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)
    ):
        c, r = x0 + dx, y0 + dy
        ok = (c >= 0) & (c < nx) & (r >= 0) & (r < ny)
        flat = r[ok] * nx + c[ok]
        for li, layer in enumerate(layers):
            acc = np.bincount(flat, weights=share[ok] * weights[ok, li], minlength=nx * ny)
            layer += acc.reshape(ny, nx).astype(layer.dtype)


def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (fast FFT sizes)."""
    best = 1 << int(np.ceil(np.log2(n)))
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def gaussian_random_field(rng, shape, scale_px: float, slope: float = -3.0, step: int = 2):
    """Unit-variance Gaussian random field with P(k) ~ (k^2 + k0^2)^(slope/2), k0 = 1/scale.

    Drawn on a grid ``step`` times coarser (a steep spectrum has little small-scale power) and
    interpolated back.
    """
    cy, cx = (-(-shape[0] // step) + 2, -(-shape[1] // step) + 2)
    white = rng.standard_normal((cy, cx), dtype=np.float32)
    f = np.fft.rfft2(white)
    ky = np.fft.fftfreq(cy, d=step)[:, None]
    kx = np.fft.rfftfreq(cx, d=step)[None, :]
    k0 = 1.0 / max(scale_px, 1.0)
    amp = ((kx * kx + ky * ky + k0 * k0) ** (slope / 4.0)).astype(np.float32)
    amp[0, 0] = 0.0
    g = np.fft.irfft2(f * amp, s=(cy, cx))
    g = (g - g.mean()) / max(float(g.std()), 1e-12)
    return upsample(g.astype(np.float32), step, shape)


def upsample(coarse: np.ndarray, step: int, shape) -> np.ndarray:
    """Bilinear interpolation of a grid sampled every ``step`` pixels onto ``shape``."""
    def axis(n, m):
        t = np.arange(n) / step
        i0 = np.minimum(np.floor(t).astype(int), m - 2)
        return i0, (t - i0).astype(np.float32)

    iy, fy = axis(shape[0], coarse.shape[0])
    ix, fx = axis(shape[1], coarse.shape[1])
    rows = coarse[iy] * (1 - fy)[:, None] + coarse[iy + 1] * fy[:, None]
    return (rows[:, ix] * (1 - fx)[None, :] + rows[:, ix + 1] * fx[None, :]).astype(np.float32)


def moffat_kernel(fwhm: float, beta: float, half: int = 20, oversample: int = 5) -> np.ndarray:
    """Moffat PSF, pixel-integrated by oversampling, unit sum."""
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    sub = (np.arange(oversample) + 0.5) / oversample - 0.5
    c = (np.arange(-half, half + 1)[:, None] + sub[None, :]).ravel()
    r2 = c[:, None] ** 2 + c[None, :] ** 2
    k = (1.0 + r2 / alpha**2) ** (-beta)
    n = 2 * half + 1
    k = k.reshape(n, oversample, n, oversample).sum(axis=(1, 3))
    return k / k.sum()


class Convolver:
    """FFT convolution with one kernel for many images of one shape (zero padded, no wrap)."""

    def __init__(self, shape, kernel: np.ndarray):
        half = kernel.shape[0] // 2
        self.shape = shape
        self.pad = (_fast_len(shape[0] + half), _fast_len(shape[1] + half))
        k = np.zeros(self.pad, np.float32)
        k[: kernel.shape[0], : kernel.shape[1]] = kernel
        k = np.roll(k, (-half, -half), axis=(0, 1))
        self.kf = np.fft.rfft2(k)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        f = np.fft.rfft2(image.astype(np.float32, copy=False), s=self.pad)
        f *= self.kf
        out = np.fft.irfft2(f, s=self.pad)
        return out[: self.shape[0], : self.shape[1]].astype(np.float32, copy=False)


def smooth3x3(a: np.ndarray) -> np.ndarray:
    """[1 2 1] x [1 2 1] / 16 smoothing, rescaled to keep unit variance of white noise:
    a cheap stand-in for the pixel-to-pixel correlation that drizzling leaves."""
    p = np.pad(a, 1, mode="reflect")
    r = p[:-2] + 2.0 * p[1:-1] + p[2:]
    s = r[:, :-2] + 2.0 * r[:, 1:-1] + r[:, 2:]
    return (s / 6.0).astype(np.float32)   # sqrt(sum k^2) = 6/16 for k = [1 2 1]^2 / 16
