"""Where each galaxy is on the sky, and the mosaics' pixel grid (a TAN WCS, north up)."""

from __future__ import annotations

import numpy as np
from astropy.wcs import WCS

from clusterage.galaxies import PIXEL_SCALE_ARCSEC

PIXEL_AREA_ARCSEC2 = PIXEL_SCALE_ARCSEC**2

# Rough galaxy centres (ICRS degrees, NED); any plausible value serves the synthetic mosaics.
CENTRES = {
    "ngc5068": (199.7283, -21.0386),
    "ic5332": (353.6146, -36.1011),
    "ngc628c": (24.1739, 15.7836),
    "ngc3351": (160.9906, 11.7037),
    "ngc3627": (170.0625, 12.9915),
    "ngc2835": (139.4704, -22.3547),
    "ngc4254": (184.7067, 14.4164),
    "ngc5248": (204.3834, 8.8851),
    "ngc4321": (185.7289, 15.8223),
    "ngc4535": (188.5846, 8.1980),
    "ngc1566": (65.0017, -54.9380),
    "ngc1433": (55.5062, -47.2219),
    "ngc7496": (347.4471, -43.4278),
    "ngc1512": (60.9756, -43.3487),
    "ngc1365": (53.4016, -36.1404),
}


def mosaic_wcs(target: str, shape: tuple[int, int]) -> WCS:
    """TAN projection at the PHANGS drizzle scale, centred on the galaxy, east to the left."""
    ra, dec = CENTRES[target]
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(shape[1] + 1) / 2.0, (shape[0] + 1) / 2.0]   # FITS pixels are 1-based
    w.wcs.cd = np.array([[-PIXEL_SCALE_ARCSEC / 3600.0, 0.0], [0.0, PIXEL_SCALE_ARCSEC / 3600.0]])
    w.wcs.radesys = "ICRS"
    w.wcs.equinox = 2000.0
    return w
