"""PHANGS-style cluster catalogs (obs and sed FITS tables) for the planted clusters.

Photometry is the planted cluster light (plus its red supergiant, if any, and its resolved young
stars within the aperture) with the noise of a 4 px aperture; the SED columns hold the planted
truth (the catalog age is the true age) except for the planted SED errors (sed_errors.py), which
get a wrong but plausible solution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table

from clusterage.atomic import atomic_path

from . import ssp

APERTURE_RADIUS_PX = 4.0
KIND_CLASSES = {"cluster-class12": (1, 2), "compact-association-class3": (3,)}


def measured_photometry(rng, flux: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Noisy aperture fluxes and their errors (e-/s) from the per-filter noise model."""
    nm = ssp.noise_model()
    t = np.asarray(p["exptime_s"], float)
    sky = nm[f"sky_{p['sky_level']}_eps_px"].to_numpy(float) + nm["dark_eps_px"].to_numpy(float)
    npix = np.pi * APERTURE_RADIUS_PX**2
    var_e = np.clip(flux, 0, None) * t + npix * (sky * t + np.asarray(p["n_exposures"]) * p["read_noise"] ** 2)
    err = np.sqrt(var_e) / t
    return flux + err * rng.standard_normal(flux.shape), err


def concentration_index(a_px: np.ndarray, p: dict) -> np.ndarray:
    """Magnitude difference between 1 and 3 px apertures, treating the PSF-convolved cluster as
    a Moffat of the PSF's beta whose core adds the cluster's EFF core radius in quadrature."""
    beta = p["psf_beta"]
    alpha = p["psf_fwhm_px"] / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    a2 = alpha**2 + np.asarray(a_px) ** 2

    def enclosed(r):
        return 1.0 - (1.0 + r * r / a2) ** (1.0 - beta)

    return 2.5 * np.log10(enclosed(3.0) / enclosed(1.0))


def colour_class(vmi: np.ndarray, umb: np.ndarray) -> np.ndarray:
    """Colour-colour region (1 young cluster locus, 2 middle-aged plume, 3 old globular clump):
    the age bin of the nearest point of the solar-metallicity SSP track in (V-I, U-B) Vega."""
    t = ssp.ssp_table("0.02")
    tv, tu, tage = t["V-I_Vega"].to_numpy(), t["U-B_Vega"].to_numpy(), t["age_Myr"].to_numpy()
    d = (vmi[:, None] - tv[None, :]) ** 2 + (umb[:, None] - tu[None, :]) ** 2
    d = np.where(np.isfinite(d), d, np.inf)
    age = tage[np.argmin(d, axis=1)]
    out = np.where(age < 10, 1, np.where(age < 1000, 2, 3))
    return np.where(np.isfinite(vmi) & np.isfinite(umb), out, 0)


def build_tables(rng, truth: pd.DataFrame, flux: np.ndarray, p: dict) -> pd.DataFrame:
    """All catalog columns for every planted cluster (obs columns then SED columns)."""
    n = len(truth)
    f_obs, f_err = measured_photometry(rng, flux, p)
    zp = ssp.zero_points_ab()
    vega_off = ssp.vega_minus_ab()
    with np.errstate(divide="ignore", invalid="ignore"):
        m_ab = np.where(f_obs > 0, zp - 2.5 * np.log10(f_obs), np.nan)
        m_err = np.where(f_obs > 0, 2.5 / np.log(10) * f_err / f_obs, np.nan)
    m_vega = m_ab + vega_off
    to_mjy = 10.0 ** (-0.4 * (zp - 16.40))   # AB: f[mJy] = 10^(-0.4 (m - 16.40))
    ml_class = truth["cluster_class"].to_numpy().copy()
    flip = rng.uniform(size=n) < 0.15
    ml_class[flip] = rng.integers(1, 4, flip.sum())
    cols = {
        "ID_PHANGS_CLUSTER": truth["cluster_id"].to_numpy(np.int64),
        "ID_PHANGS_CANDIDATE": truth["candidate_id"].to_numpy(np.int64),
        "ID_PHANGS_ALLSOURCES": truth["allsources_id"].to_numpy(np.int64),
        "PHANGS_X": truth["x"].to_numpy(float),
        "PHANGS_Y": truth["y"].to_numpy(float),
        "PHANGS_RA": truth["ra"].to_numpy(float),
        "PHANGS_DEC": truth["dec"].to_numpy(float),
        "PHANGS_CLUSTER_CLASS_HUMAN": truth["cluster_class"].to_numpy(np.int64),
        "PHANGS_CLUSTER_CLASS_ML_VGG": ml_class.astype(np.int64),
    }
    for b, f in enumerate(ssp.FILTERS):
        cols[f"PHANGS_{f}_VEGA"] = m_vega[:, b]
        cols[f"PHANGS_{f}_VEGA_ERR"] = m_err[:, b]
        cols[f"PHANGS_{f}_mJy"] = f_obs[:, b] * to_mjy[b]
        cols[f"PHANGS_{f}_mJy_ERR"] = f_err[:, b] * to_mjy[b]
    cols["PHANGS_CI"] = concentration_index(truth["a_px"].to_numpy(), p)
    cols["CC_CLASS"] = colour_class(m_vega[:, 3] - m_vega[:, 4], m_vega[:, 1] - m_vega[:, 2])
    sed = truth   # sed_* columns: the catalog's solution (sed_errors.apply)
    age = 10.0 ** (sed["sed_log_age"].to_numpy(float) - 6.0)
    cols["PHANGS_AGE_MINCHISQ"] = age
    cols["PHANGS_AGE_MINCHISQ_ERR"] = age * (10.0**0.15 - 1.0)
    cols["PHANGS_MASS_MINCHISQ"] = sed["sed_mass"].to_numpy(float)
    cols["PHANGS_MASS_MINCHISQ_ERR"] = sed["sed_mass"].to_numpy(float) * 0.2
    cols["PHANGS_EBV_MINCHISQ"] = sed["sed_ebv"].to_numpy(float)
    cols["PHANGS_EBV_MINCHISQ_ERR"] = np.full(n, 0.05)
    cols["PHANGS_REDUCEDCHISQ_MINCHISQ"] = rng.chisquare(3, n) / 3.0
    return pd.DataFrame(cols)


SED_COLUMNS = [
    "PHANGS_AGE_MINCHISQ", "PHANGS_AGE_MINCHISQ_ERR", "PHANGS_MASS_MINCHISQ",
    "PHANGS_MASS_MINCHISQ_ERR", "PHANGS_EBV_MINCHISQ", "PHANGS_EBV_MINCHISQ_ERR",
    "PHANGS_REDUCEDCHISQ_MINCHISQ",
]


def kind_classes(kind: str) -> tuple[int, ...]:
    """Human classes held by a catalog kind (matched by the class suffix of its name)."""
    if kind in KIND_CLASSES:
        return KIND_CLASSES[kind]
    if kind.endswith("class12"):
        return (1, 2)
    if kind.endswith("class3"):
        return (3,)
    raise ValueError(f"data.layout.catalog_kinds: cannot tell the classes of kind {kind!r}")


def write_catalogs(data_dir, files, table: pd.DataFrame) -> None:
    """obs and sed tables per kind at the GalaxyFiles paths, each written atomically."""
    obs_cols = [c for c in table.columns if c not in SED_COLUMNS]
    for kind, (obs_rel, sed_rel) in zip(files.layout["catalog_kinds"], files.catalog_relpaths()):
        sel = table[table["PHANGS_CLUSTER_CLASS_HUMAN"].isin(kind_classes(kind))].copy()
        sel.insert(0, "INDEX", np.arange(1, len(sel) + 1, dtype=np.int64))
        _write_fits_table(data_dir / obs_rel, sel[["INDEX"] + obs_cols])
        _write_fits_table(data_dir / sed_rel, sel)


def _write_fits_table(path, df: pd.DataFrame) -> None:
    hdu = fits.BinTableHDU(Table.from_pandas(df.reset_index(drop=True)))
    hdu.header["ORIGIN"] = "clusterage.synthetic"
    hdu.header["COMMENT"] = "Synthetic PHANGS-like catalog; SED columns hold the planted truth."
    with atomic_path(path) as tmp:
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp)
