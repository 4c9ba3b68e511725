"""Where the clusters sit: a compact mosaic, young clusters in groups, a few at the footprint edge.

The mosaic is only as large as its clusters need (``spacing_px``^2 per cluster). Clusters whose
environment age is young are placed in groups with surface density ~ r^-0.8 within the
neighbour radius (Grasha et al. 2015, 2017), so their cutouts overlap as in real galaxies; older
ones are spread at random. A fraction ``edge_fraction`` (chosen regardless of age) sits so close to
the edge of the footprint that its 112 px cutout is not fully covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CUTOUT_HALF = 56          # half of the workflow's 112 px cutout
_MARGIN = CUTOUT_HALF + 8  # interior clusters keep this far from the common footprint edge
_BORDER = 32              # off-footprint frame; each band's footprint edge varies inside it


@dataclass
class Layout:
    shape: tuple[int, int]
    footprints: np.ndarray     # (5, 4) per band: x0, x1, y0, y1 (covered: x0 <= x < x1)
    x: np.ndarray
    y: np.ndarray
    grouped: np.ndarray        # bool: placed in a group
    group: np.ndarray          # group id (-1: none)
    edge: np.ndarray           # bool: placed at the footprint edge

    def common_footprint(self):
        f = self.footprints
        return f[:, 0].max(), f[:, 1].min(), f[:, 2].max(), f[:, 3].min()

    def full_coverage(self, x, y, half: int = CUTOUT_HALF) -> np.ndarray:
        """Whether the (2 half)^2 cutout centred on the rounded position is covered in all bands."""
        x0, x1, y0, y1 = self.common_footprint()
        cx = np.rint(x).astype(int)
        cy = np.rint(y).astype(int)
        return (cx - half >= x0) & (cx + half <= x1) & (cy - half >= y0) & (cy + half <= y1)

    def on_footprint(self, band: int) -> tuple[slice, slice]:
        x0, x1, y0, y1 = self.footprints[band]
        return slice(y0, y1), slice(x0, x1)


def place(rng, env_age_myr: np.ndarray, group_radius_px: float, p: dict) -> Layout:
    n = env_age_myr.size
    n_edge = int(round(p["edge_fraction"] * n))
    edge = np.zeros(n, bool)
    edge[rng.permutation(n)[:n_edge]] = True
    inner = ~edge
    side = max(np.sqrt(max(inner.sum(), 1)) * p["spacing_px"], 2.0 * group_radius_px + 16.0, 128.0)
    side = int(np.ceil(side))
    L = side + 2 * (_MARGIN + _BORDER)
    shape = (L, L)
    # Each band's footprint edge lies between 16 and 32 px from the mosaic edge, as separate
    # pointings and drizzling leave slightly different footprints per filter.
    inset = rng.integers(16, _BORDER + 1, size=(5, 4))
    footprints = np.stack(
        [inset[:, 0], L - inset[:, 1], inset[:, 2], L - inset[:, 3]], axis=1
    ).astype(int)
    box = (_BORDER + _MARGIN, _BORDER + _MARGIN + side)   # interior box, same in x and y

    x = np.empty(n)
    y = np.empty(n)
    group = np.full(n, -1)
    young = inner & (env_age_myr < p["group_max_age_myr"])
    # Consecutive clusters in env-age order share a group, so a group has similar ages.
    idx = np.flatnonzero(young)
    idx = idx[np.argsort(env_age_myr[idx], kind="stable")]
    gid = 0
    pos = 0
    R = group_radius_px
    slope = p["neighbour_slope"]
    while pos < idx.size:
        size = 1 + rng.poisson(p["group_size_mean"] - 1.0)
        members = idx[pos : pos + size]
        pos += size
        lo, hi = box[0] + min(R, side / 2), box[1] - min(R, side / 2)
        cx, cy = rng.uniform(lo, hi, 2)
        r = R * rng.uniform(size=members.size) ** (1.0 / (2.0 + slope))
        phi = rng.uniform(0, 2 * np.pi, members.size)
        x[members] = _reflect(cx + r * np.cos(phi), *box)
        y[members] = _reflect(cy + r * np.sin(phi), *box)
        group[members] = gid
        gid += 1
    spread = inner & ~young
    x[spread] = rng.uniform(*box, spread.sum())
    y[spread] = rng.uniform(*box, spread.sum())

    # Edge clusters: 4 to 48 px inside the common footprint edge, on a random side.
    lay = Layout(shape, footprints, x, y, young, group, edge)
    fx0, fx1, fy0, fy1 = lay.common_footprint()
    ei = np.flatnonzero(edge)
    depth = rng.uniform(4, CUTOUT_HALF - 8, ei.size)
    along = rng.uniform(0, 1, ei.size)
    sides = rng.integers(0, 4, ei.size)
    ax = fx0 + along * (fx1 - fx0 - 1)
    ay = fy0 + along * (fy1 - fy0 - 1)
    x[ei] = np.select([sides == 0, sides == 1], [fx0 + depth, fx1 - 1 - depth], ax)
    y[ei] = np.select([sides == 2, sides == 3], [fy0 + depth, fy1 - 1 - depth], ay)
    return lay


def _reflect(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold positions back into [lo, hi) (keeps the group's radial profile, unlike clipping)."""
    span = hi - lo
    t = np.mod(v - lo, 2 * span)
    return lo + np.where(t < span, t, 2 * span - t - 1e-6)
