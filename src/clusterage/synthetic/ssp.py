"""Stellar population tables and the photometric system: magnitudes in, count rates out.

All tables ship in ``clusterage/data`` (see PROVENANCE.md there). Band order is always the CNN's
(NUV, U, B, V, I) = (F275W, F336W, F438W, F555W, F814W).
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import pandas as pd

FILTERS = ("F275W", "F336W", "F438W", "F555W", "F814W")
V = 3  # index of F555W
# WFC3/UVIS pivot wavelengths (Angstrom), WFC3 Instrument Handbook.
PIVOT_ANGSTROM = np.array([2709.7, 3354.5, 4326.2, 5308.4, 8039.1])


def _data(name: str):
    return resources.files("clusterage") / "data" / name


@functools.cache
def ssp_table(metallicity: str) -> pd.DataFrame:
    """BC03 SSP for metallicity "0.02" or "0.004": absolute mags per 1e4 Msun formed."""
    with _data(f"ssp_bc03_hst_Z{metallicity}.csv").open() as fh:
        return pd.read_csv(fh, comment="#")


@functools.cache
def vega_minus_ab() -> np.ndarray:
    """m_Vega - m_AB per band, read from the SSP table itself (its two magnitude sets)."""
    t = ssp_table("0.02")
    return np.array([(t[f"M_{f}_Vega"] - t[f"M_{f}_AB"]).median() for f in FILTERS])


METALLICITIES = ("0.02", "0.004")


def abs_mag_ab(log_age: np.ndarray, z_index: np.ndarray) -> np.ndarray:
    """(N, 5) absolute AB magnitudes per 1e4 Msun formed; z_index 0 = Z 0.02, 1 = Z 0.004."""
    log_age = np.clip(np.asarray(log_age, float), 6.0, 10.1)
    z_index = np.asarray(z_index)
    out = np.empty((log_age.size, 5))
    for zi, z in enumerate(METALLICITIES):
        t = ssp_table(z)
        sel = z_index == zi
        for b, f in enumerate(FILTERS):
            out[sel, b] = np.interp(log_age[sel], t["log_age_yr"], t[f"M_{f}_AB"])
    return out


def live_fraction(log_age: np.ndarray, z_index: np.ndarray) -> np.ndarray:
    log_age = np.clip(np.asarray(log_age, float), 6.0, 10.1)
    out = np.empty(log_age.size)
    for zi, z in enumerate(METALLICITIES):
        t = ssp_table(z)
        sel = np.asarray(z_index) == zi
        out[sel] = np.interp(log_age[sel], t["log_age_yr"], t["live_mass_frac"])
    return out


@functools.cache
def extinction_k(law: str = "CCM89") -> np.ndarray:
    """A_band / A_V at the pivot wavelengths."""
    with _data("extinction_coeffs.csv").open() as fh:
        t = pd.read_csv(fh)
    row = t[(t["law"] == law) & (t["evaluation"] == "pivot")]
    if len(row) != 1:
        raise ValueError(f"synthetic.extinction_law: {law!r} not in extinction_coeffs.csv")
    return np.array([float(row[f"A_{f}/A_V"].iloc[0]) for f in FILTERS])


@functools.cache
def _nebular() -> pd.DataFrame:
    with _data("nebular_delta.txt").open() as fh:
        lines = [ln.split() for ln in fh.read().splitlines()[1:] if ln.strip()]
    cols = ["logU", "log_age"] + [f"dm_{f}" for f in FILTERS]
    return pd.DataFrame(np.array(lines, float), columns=cols)


def nebular_dm(log_age: np.ndarray, logU: float) -> np.ndarray:
    """(N, 5) magnitude change from nebular emission (negative = brighter); 0 past the grid."""
    t = _nebular()
    t = t[np.isclose(t["logU"], logU)]
    log_age = np.asarray(log_age, float)
    return np.stack(
        [np.interp(log_age, t["log_age"], t[f"dm_{f}"], right=0.0) for f in FILTERS], axis=1
    )


@functools.cache
def noise_model() -> pd.DataFrame:
    with _data("noise_model.csv").open() as fh:
        return pd.read_csv(fh).set_index("band").loc[list(FILTERS)]


def zero_points_ab() -> np.ndarray:
    return noise_model()["zp_ab"].to_numpy(float)


def photflam() -> np.ndarray:
    """Inverse sensitivity (erg/s/cm^2/A per e-/s) consistent with the AB zero points."""
    return 10.0 ** (-0.4 * (zero_points_ab() + 2.408 + 5.0 * np.log10(PIVOT_ANGSTROM)))


@functools.cache
def diffuse_colours_ab() -> dict[str, np.ndarray]:
    """Per case, AB colours (NUV-U, U-B, B-V, V-I) of diffuse galaxy light."""
    with _data("diffuse_colours.txt").open() as fh:
        rows = fh.read().splitlines()[1:]
    out = {}
    for row in rows:
        parts = row.split()
        if parts:
            out[parts[0]] = np.array(parts[1:5], float)
    return out


def mags_from_colours(v_mag: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(N, 5) magnitudes from V and colours (NUV-U, U-B, B-V, V-I)."""
    v_mag = np.asarray(v_mag, float)
    colours = np.broadcast_to(np.asarray(colours, float), v_mag.shape + (4,))
    b = v_mag + colours[..., 2]
    u = b + colours[..., 1]
    nuv = u + colours[..., 0]
    i = v_mag - colours[..., 3]
    return np.stack([nuv, u, b, v_mag, i], axis=-1)


def count_rate(m_ab: np.ndarray) -> np.ndarray:
    """AB magnitudes -> e-/s through the PHANGS filters."""
    return 10.0 ** (-0.4 * (np.asarray(m_ab) - zero_points_ab()))


def distance_modulus(distance_mpc: float) -> float:
    return 5.0 * np.log10(distance_mpc * 1e6 / 10.0)
