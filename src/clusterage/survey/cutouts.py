"""Cut 112 x 112 stamps in all five filters around each cluster (astropy Cutout2D).

The cluster's V-band peak pixel (catalog PHANGS_X, PHANGS_Y, 0-based) lands on pixel
(size/2, size/2) of every cutout. Other filters are placed through the WCS, so mosaics on
different pixel grids still give aligned cutouts. Mosaics are memory-mapped: only the pixels
of the cutouts are read.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.nddata.utils import NoOverlapError, PartialOverlapError
from astropy.wcs import WCS, FITSFixedWarning

from clusterage.galaxies import BANDS

from .mast import GalaxyFiles

log = logging.getLogger(__name__)
V_BAND = BANDS.index("V")


class ImageError(ValueError):
    """A mosaic that cannot be used; the message names the file."""


def open_mosaic(path: Path):
    """Memory-mapped science array and celestial WCS of one mosaic, with clear errors."""
    if not path.exists():
        raise FileNotFoundError(f"mosaic not found: {path}")
    try:
        hdul = fits.open(path, memmap=True)
        hdul.verify("exception")
    except Exception as exc:
        raise ImageError(f"cannot read FITS mosaic {path}: {exc}") from exc
    hdu = next((h for h in hdul if h.header.get("NAXIS") == 2), None)
    if hdu is None:
        hdul.close()
        raise ImageError(f"{path} holds no 2-D image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(hdu.header)
    if not wcs.has_celestial:
        hdul.close()
        raise ImageError(f"{path} has no celestial WCS (CTYPE/CRVAL/CD keywords)")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*truncated")  # astropy only warns
            data = hdu.data
    except Exception as exc:
        hdul.close()
        raise ImageError(f"{path} is truncated or corrupt: {exc}") from exc
    return hdul, data, wcs.celestial


def extract(files: GalaxyFiles, data_dir: str | Path, clusters: pd.DataFrame,
            size: int = 112) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """Cutouts ``(N, size, size, 5)`` float32 (channels NUV..I) of the clusters fully covered.

    A cluster is dropped, and counted, if its cutout leaves any mosaic (``dropped_edge``) or
    holds NaN or zero-weight (exactly 0) pixels in any filter (``dropped_no_coverage``).
    """
    data_dir = Path(data_dir)
    half = size // 2
    n = len(clusters)
    cube = np.zeros((n, size, size, len(BANDS)), dtype=np.float32)
    edge = np.zeros(n, dtype=bool)
    empty = np.zeros(n, dtype=bool)

    hduls = []
    try:
        mosaics = []
        for b in range(len(BANDS)):
            hdul, data, wcs = open_mosaic(data_dir / files.image_relpath(b))
            hduls.append(hdul)
            mosaics.append((data, wcs))
        v_wcs = mosaics[V_BAND][1]
        # Catalog position rounded to the peak pixel; the cutout centre is that pixel.
        xv = np.rint(clusters["x"].to_numpy(dtype=float))
        yv = np.rint(clusters["y"].to_numpy(dtype=float))
        world = v_wcs.pixel_to_world(xv, yv)
        for b, (data, wcs) in enumerate(mosaics):
            if b == V_BAND:
                xb, yb = xv, yv
            else:
                xb, yb = (np.rint(p) for p in wcs.world_to_pixel(world))
            for i in range(n):
                if edge[i]:
                    continue
                try:
                    cut = Cutout2D(data, (xb[i], yb[i]), size, mode="strict", copy=False)
                except (PartialOverlapError, NoOverlapError):
                    edge[i] = True
                    continue
                stamp = cut.data
                cube[i, :, :, b] = stamp
        finite = np.isfinite(cube).all(axis=(1, 2, 3))
        nonzero = (cube != 0).all(axis=(1, 2, 3))
        empty = ~edge & ~(finite & nonzero)
    finally:
        for h in hduls:
            h.close()

    keep = ~edge & ~empty
    counts = {"dropped_edge": int(edge.sum()), "dropped_no_coverage": int(empty.sum()),
              "n_kept": int(keep.sum())}
    log.info("%s: %d of %d clusters cut out; dropped %d at the footprint edge, %d without "
             "coverage in all five filters", files.target, counts["n_kept"], n,
             counts["dropped_edge"], counts["dropped_no_coverage"])
    return cube[keep], clusters[keep].reset_index(drop=True), counts
