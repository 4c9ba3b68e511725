"""The 15 PHANGS-HST galaxies of the paper's Table 1.

Keys are the MAST target names (lower case), so one name serves URLs, file names and tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GalaxyInfo:
    key: str            # MAST target name, e.g. "ngc628c"
    name: str           # as printed in the paper, e.g. "NGC 0628c"
    distance_mpc: float
    distance_err_mpc: float
    n_clusters: int     # paper Table 1, column 6
    reference_label: str  # galaxy name in phangs_reference_ages.csv


# Paper Table 1 (distances from Anand et al. 2021 / Lee et al. 2022, as the paper prints them).
TABLE1: dict[str, GalaxyInfo] = {
    g.key: g
    for g in [
        GalaxyInfo("ngc5068", "NGC 5068", 5.20, 0.21, 326, "NGC_5068"),
        GalaxyInfo("ic5332", "IC 5332", 9.01, 0.41, 377, "IC_5332"),
        GalaxyInfo("ngc628c", "NGC 0628c", 9.84, 0.63, 530, "NGC_628C"),
        GalaxyInfo("ngc3351", "NGC 3351", 9.96, 0.33, 116, "NGC_3351"),
        GalaxyInfo("ngc3627", "NGC 3627", 11.32, 0.48, 958, "NGC_3627"),
        GalaxyInfo("ngc2835", "NGC 2835", 12.22, 0.94, 893, "NGC_2835"),
        GalaxyInfo("ngc4254", "NGC 4254", 13.10, 2.8, 747, "NGC_4254"),
        GalaxyInfo("ngc5248", "NGC 5248", 14.87, 1.34, 593, "NGC_5248"),
        GalaxyInfo("ngc4321", "NGC 4321", 15.21, 0.49, 950, "NGC_4321"),
        GalaxyInfo("ngc4535", "NGC 4535", 15.77, 0.37, 531, "NGC_4535"),
        GalaxyInfo("ngc1566", "NGC 1566", 17.69, 2.0, 850, "NGC_1566"),
        GalaxyInfo("ngc1433", "NGC 1433", 18.63, 0.56, 252, "NGC_1433"),
        GalaxyInfo("ngc7496", "NGC 7496", 18.72, 2.8, 321, "NGC_7496"),
        GalaxyInfo("ngc1512", "NGC 1512", 18.83, 0.88, 424, "NGC_1512"),
        GalaxyInfo("ngc1365", "NGC 1365", 19.57, 0.78, 783, "NGC_1365"),
    ]
}

# Pixel scale of the PHANGS-HST drizzled mosaics (the paper rounds it to 0.04").
PIXEL_SCALE_ARCSEC = 0.03962

# The five bands in the order the CNN sees them (NUV, U, B, V, I). B is F438W, or ACS F435W
# where the survey used archival ACS data; the slot, not the filter name, fixes the order.
BANDS = ("NUV", "U", "B", "V", "I")
DEFAULT_FILTERS = ("F275W", "F336W", "F438W", "F555W", "F814W")


def galaxy(key: str) -> GalaxyInfo:
    """Table 1 entry for a MAST target name, with an error that lists the known ones."""
    try:
        return TABLE1[key]
    except KeyError:
        known = ", ".join(TABLE1)
        raise KeyError(f"unknown galaxy {key!r}; known galaxies: {known}") from None


def pc_per_pixel(distance_mpc: float, pixel_scale_arcsec: float = PIXEL_SCALE_ARCSEC) -> float:
    """Physical size of one pixel at a distance (1 arcsec = 4.8481 pc per Mpc)."""
    return distance_mpc * 1e6 * pixel_scale_arcsec * 4.84813681e-6


def distance_mpc(key: str) -> float:
    """A galaxy's distance from the package's table, with an error naming a galaxy without one."""
    key = str(key)
    info = TABLE1.get(key)
    d = getattr(info, "distance_mpc", None)
    if d is None or not np.isfinite(d) or d <= 0:
        raise ValueError(f"galaxy {key!r} has no distance in clusterage.galaxies.TABLE1, so a "
                         f"mask diameter in pc cannot be turned into pixels")
    return float(d)


def diameter_pixels(diameter_pc: float, keys) -> np.ndarray:
    """Mask diameter in pixels of each cluster (its galaxy's key) for a diameter in parsecs."""
    keys = np.asarray(keys).astype(str)
    names, index = np.unique(keys, return_inverse=True)
    per_galaxy = np.array([diameter_pc / pc_per_pixel(distance_mpc(k)) for k in names], dtype=float)
    return per_galaxy[index.reshape(-1)] if len(keys) else np.empty(0)
