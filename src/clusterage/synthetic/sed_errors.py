"""Catalog ages that are wrong on purpose: planted SED-fit errors with a known answer.

Real catalog ages are not all right (Whitmore et al. 2023): fitted with one (solar) metallicity
and a reddening that can trade against age, some clusters get ages wrong by a factor of ten or
more. Two kinds are planted here, each as the best *wrong* solution a solar-metallicity fit finds
for the cluster's own colours:

- ``young_dusty``: a young cluster (< ``young_max_myr``) behind much dust (E(B-V) >=
  ``young_min_ebv``) whose reddened colours also match an older, less reddened population: the
  catalog gets the best fit among ages at least ``min_age_factor`` times the true age (the
  age-extinction degeneracy);
- ``old_metal_poor``: an old metal-poor (Z = 0.004) cluster whose colours a solar-metallicity
  fit reproduces with a young age and too much dust: the best fit among ages at most
  1 / ``min_age_factor`` of the true age.

"Best fit" is the smallest RMS offset in U-B and V-I (the colour-colour plane where the
degeneracy is read) over the Z = 0.02 track x E(B-V) in [0, ebv_max]; a solution is planted only
if that offset is at most ``max_colour_offset`` mag, so the wrong catalog entry still describes
the photometry. The images always follow the truth; only the catalog's SED columns change.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd

from . import ssp

log = logging.getLogger(__name__)

KINDS = ("young_dusty", "old_metal_poor")
COLUMNS = ["cluster_id", "kind", "true_log_age", "true_ebv", "true_metallicity",
           "catalog_log_age", "catalog_ebv", "catalog_mass", "colour_offset_mag"]
_LOG_AGE_STEP = 0.01
_EBV_STEP = 0.01
_U_B, _V_I = 1, 3   # indices of U-B and V-I among the colours NUV-U, U-B, B-V, V-I


@functools.cache
def _solar_grid(law: str, r_v: float, ebv_max: float):
    """Log ages, E(B-V) values and the (age, E(B-V), 2) U-B, V-I colours of the Z = 0.02 track."""
    log_age = np.round(np.arange(6.0, 10.1 + _LOG_AGE_STEP / 2, _LOG_AGE_STEP), 4)
    ebv = np.round(np.arange(0.0, ebv_max + _EBV_STEP / 2, _EBV_STEP), 4)
    mags = ssp.abs_mag_ab(log_age, np.zeros(log_age.size, int))
    k = ssp.extinction_k(law) * r_v
    excess = (k[:-1] - k[1:])[[_U_B, _V_I]]
    colours = (mags[:, :-1] - mags[:, 1:])[:, [_U_B, _V_I]]
    return log_age, ebv, colours[:, None, :] + ebv[None, :, None] * excess


def cluster_colours(pop: pd.DataFrame, p: dict) -> np.ndarray:
    """(N, 2) intrinsic-plus-dust U-B and V-I (AB) of the clusters, without noise."""
    mags = ssp.abs_mag_ab(pop["log_age"].to_numpy(float), pop["z_index"].to_numpy())
    k = ssp.extinction_k(p["extinction_law"]) * p["r_v"]
    colours = mags[:, :-1] - mags[:, 1:] + (k[:-1] - k[1:]) * pop["ebv"].to_numpy(float)[:, None]
    return colours[:, [_U_B, _V_I]]


def best_wrong_fit(colours: np.ndarray, log_age: float, kind: str, p: dict, factor: float):
    """(log age, E(B-V), RMS colour offset) of the best solar fit in the catastrophic age range."""
    ages, ebvs, grid = _solar_grid(p["extinction_law"], float(p["r_v"]), float(p["ebv_max"]))
    shift = np.log10(factor)
    allowed = ages >= log_age + shift if kind == "young_dusty" else ages <= log_age - shift
    if not allowed.any():
        return np.nan, np.nan, np.inf
    d = np.sqrt(((grid[allowed] - colours) ** 2).mean(axis=-1))
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return float(ages[allowed][i]), float(ebvs[j]), float(d[i, j])


def plant(rng, pop: pd.DataFrame, distance_mpc: float, p: dict) -> pd.DataFrame:
    """Choose the clusters whose catalog age is wrong and their wrong SED solutions.

    Returns one row per planted cluster (``position``: row in ``pop``) with the true and the
    catalog age, E(B-V) and mass. At most round(fraction x N) rows, split between the kinds by
    ``young_dusty_share``; a kind with too few plausible candidates plants what it has.
    """
    cfg = p["sed_errors"]
    n = len(pop)
    n_total = int(round(cfg["fraction"] * n))
    rows = []
    if n_total == 0:
        return _frame(rows)
    n_young = int(round(cfg["young_dusty_share"] * n_total))
    wanted = {"young_dusty": n_young, "old_metal_poor": n_total - n_young}
    age_myr = pop["age_myr"].to_numpy(float)
    ebv = pop["ebv"].to_numpy(float)
    z_index = pop["z_index"].to_numpy()
    log_age = pop["log_age"].to_numpy(float)
    colours = cluster_colours(pop, p)
    candidates = {
        "young_dusty": np.flatnonzero((age_myr < cfg["young_max_myr"]) & (ebv >= cfg["young_min_ebv"])),
        "old_metal_poor": np.flatnonzero((age_myr > p["old_age_myr"]) & (z_index == 1)),
    }
    for kind in KINDS:
        if wanted[kind] == 0:
            continue
        fits = []
        for i in rng.permutation(candidates[kind]):
            a, e, d = best_wrong_fit(colours[i], log_age[i], kind, p, cfg["min_age_factor"])
            if d <= cfg["max_colour_offset"]:
                fits.append((i, a, e, d))
                if len(fits) == wanted[kind]:
                    break
        if len(fits) < wanted[kind]:
            log.warning("sed_errors: only %d of %d %s clusters have a plausible wrong solution",
                        len(fits), wanted[kind], kind)
        for i, a, e, d in fits:
            rows.append({"position": int(i), "kind": kind, "true_log_age": log_age[i],
                         "true_ebv": ebv[i],
                         "true_metallicity": 0.004 if z_index[i] == 1 else 0.02,
                         "catalog_log_age": a, "catalog_ebv": e,
                         "catalog_mass": _catalog_mass(pop.iloc[i], a, e, distance_mpc, p),
                         "colour_offset_mag": d})
    return _frame(rows)


def _frame(rows) -> pd.DataFrame:
    cols = ["position"] + [c for c in COLUMNS if c != "cluster_id"]
    return pd.DataFrame(rows, columns=cols).sort_values("position", ignore_index=True)


def _catalog_mass(row, log_age: float, ebv: float, distance_mpc: float, p: dict) -> float:
    """Current stellar mass the wrong solution needs for the cluster's V magnitude."""
    m_v_1e4 = ssp.abs_mag_ab(np.array([log_age]), np.array([0]))[0, ssp.V]
    a_v = ssp.extinction_k(p["extinction_law"])[ssp.V] * p["r_v"] * ebv
    dm = row[f"m_ab_{ssp.FILTERS[ssp.V]}"] - (m_v_1e4 + ssp.distance_modulus(distance_mpc) + a_v)
    formed = 1e4 * 10.0 ** (-0.4 * dm)
    return float(formed * ssp.live_fraction(np.array([log_age]), np.array([0]))[0])


def apply(truth: pd.DataFrame, planted: pd.DataFrame) -> pd.DataFrame:
    """Catalog SED solution per cluster (``sed_log_age``, ``sed_ebv``, ``sed_mass``): the truth,
    except the planted clusters, which get their wrong solution."""
    out = pd.DataFrame({"sed_log_age": truth["log_age"].to_numpy(float),
                        "sed_ebv": truth["ebv"].to_numpy(float),
                        "sed_mass": truth["mass"].to_numpy(float)}, index=truth.index)
    pos = planted["position"].to_numpy(int)
    out.iloc[pos, 0] = planted["catalog_log_age"].to_numpy(float)
    out.iloc[pos, 1] = planted["catalog_ebv"].to_numpy(float)
    out.iloc[pos, 2] = planted["catalog_mass"].to_numpy(float)
    return out


def truth_file(truth: pd.DataFrame, planted: pd.DataFrame) -> pd.DataFrame:
    """The known answer: galaxy, cluster id, kind, true and catalog solutions (sorted by id)."""
    out = planted.copy()
    out.insert(0, "cluster_id", truth["cluster_id"].to_numpy()[planted["position"].to_numpy(int)])
    out.insert(0, "galaxy", truth["galaxy"].iloc[0] if len(truth) else "")
    return out[["galaxy", *COLUMNS]].sort_values("cluster_id", ignore_index=True)
