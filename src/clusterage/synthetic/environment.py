"""A cluster's surroundings, whose dependence on age is scaled by ``env_strength``.

Every environment property is drawn from an "environment donor": with probability
``keep_probability`` (``env_strength`` times an age-dependent memory) the cluster itself,
otherwise a cluster of a donor population drawn like the real one (by default from the ages of
the whole reference sample; see survey._donor_pool). The donor's age, mass, reddening and
metallicity set the nebula, the neighbours, the field stars, the background and the dust lanes.
At ``env_strength = 0`` the surroundings of every cluster therefore follow one distribution
whatever its own age (and mass, which correlates with age through the detection limit); at 1
they carry about as much of the age as the real survey's; at 1 / ``env_memory_floor`` and above
every cluster keeps its own, and the age dependences of the recipe hold in full.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import clusters, ssp
from .sky import PIXEL_AREA_ARCSEC2

REGIONS = ("arm", "disk", "bulge", "outskirts")
_REGION_COLOURS = ("young_constSFR_100Myr", "disk_constSFR_10Gyr", "bulge_SSP_10Gyr",
                   "disk_constSFR_10Gyr")


def choose_donors(rng, pop: pd.DataFrame, pool: pd.DataFrame, p: dict) -> pd.DataFrame:
    """Environment age, mass, reddening and metallicity per cluster, and which are interlopers.

    ``pool``: candidate donors (columns of ``pop``); those not keeping their own environment get
    one each, by a balanced permutation of the first ``n`` rows of the pool.
    """
    n = len(pop)
    own = rng.uniform(size=n) < keep_probability(pop["age_myr"].to_numpy(), p)
    m = int((~own).sum())
    if len(pool) < m:
        raise ValueError(f"environment donor pool too small: {len(pool)} < {m}")
    src = pool.iloc[:m]
    perm = _balanced_permutation(rng, pop["log_age"].to_numpy()[~own], src["log_age"].to_numpy())
    cols = {"log_age": "env_log_age", "mass_formed": "env_mass_formed", "ebv": "env_ebv",
            "z_index": "env_z_index"}
    env = pd.DataFrame({"env_own": own})
    for c, e in cols.items():
        v = pop[c].to_numpy().copy()
        v[~own] = src[c].to_numpy()[perm]
        env[e] = v
    # Interlopers (only where the environment is the cluster's own, so env_strength = 0 has
    # none): young clusters in smooth old fields, globular clusters on young spiral arms.
    age = pop["age_myr"].to_numpy()
    young = age < p["env_age_edges_myr"][0]
    old = age > p["env_age_edges_myr"][2]
    extreme = young | old
    frac = extreme.mean() if n else 0.0
    p_int = min(1.0, p["interloper_fraction"] / frac) if frac > 0 else 0.0
    inter = own & extreme & (rng.uniform(size=n) < p_int)
    swap_age = np.where(young, rng.uniform(9.3, 10.0, n), rng.uniform(6.0, 6.7, n))
    env["env_log_age"] = np.where(inter, swap_age, env["env_log_age"])
    env["interloper"] = inter
    env["env_age_myr"] = 10.0 ** (env["env_log_age"] - 6.0)
    return env


def keep_probability(age_myr: np.ndarray, p: dict) -> np.ndarray:
    """Probability that a cluster of this age sits in surroundings that follow its own age:
    ``env_strength`` x (floor + (1 - floor) exp(-t / env_memory_myr)), at most 1.

    Clusters are born in the gas and the crowd of their star-forming region and drift out of it:
    young clusters are clustered on scales below ~150 pc, older than 40-60 Myr they are spread at
    random (Grasha et al. 2015, 2017), so most older clusters are seen against surroundings that
    owe nothing to their age. The floor is the share that still shows it (old clusters in the
    bulge and in smooth old fields); it and the timescale are calibrated so that at
    env_strength 1 an environment-only model predicts the age about as well as on the real
    survey (docs/synthetic-survey.md, "Calibration"). env_strength scales it: 0 keeps no cluster's
    own surroundings, values above 1 make the environment more telling than the real one.
    """
    memory = p["env_memory_floor"] + (1.0 - p["env_memory_floor"]) * np.exp(
        -np.asarray(age_myr, float) / p["env_memory_myr"]
    )
    return np.clip(p["env_strength"] * memory, 0.0, 1.0)


def _balanced_permutation(rng, own_age: np.ndarray, donor_age: np.ndarray, tries: int = 16):
    """Which donor lends its environment to each cluster: of ``tries`` random permutations,
    the one whose donor ages have the smallest rank correlation with the clusters' own ages.
    A single random draw leaves a chance correlation of order 1/sqrt(n), which the strong
    environment signal would turn into a spurious age signal at env_strength = 0."""
    m = own_age.size
    if m < 3:
        return rng.permutation(m)
    r_own, r_don = _ranks(own_age), _ranks(donor_age)
    best, best_rho = rng.permutation(m), np.inf
    for _ in range(tries):
        perm = rng.permutation(m)
        rho = abs(np.corrcoef(r_own, r_don[perm])[0, 1])
        if rho < best_rho:      # NaN (all ages equal) never wins: the first draw stays
            best, best_rho = perm, rho
    return best


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    r = np.empty(v.size)
    r[order] = np.arange(v.size)
    return r


def surroundings(rng, env: pd.DataFrame, distance_mpc: float, pc_per_px: float, p: dict):
    """Draw every environment component; offsets are in pixels relative to the cluster."""
    n = len(env)
    t_env = env["env_age_myr"].to_numpy()
    env_bin = clusters.bin_index(t_env, p["env_age_edges_myr"])
    dmod = ssp.distance_modulus(distance_mpc)
    k = ssp.extinction_k(p["extinction_law"])
    R_px = p["neighbour_radius_pc"] / pc_per_px

    # Diffuse background: region, surface brightness, clumpiness.
    probs = np.asarray(p["region_probability"], float)
    probs = probs / probs.sum(axis=1, keepdims=True)
    cum = np.cumsum(probs[env_bin], axis=1)
    region = np.minimum((rng.uniform(size=n)[:, None] > cum).sum(axis=1), len(REGIONS) - 1)
    mu_lo = np.array([p[f"mu_v_{r}"][0] for r in REGIONS])[region]
    mu_hi = np.array([p[f"mu_v_{r}"][1] for r in REGIONS])[region]
    mu_v = rng.uniform(mu_lo, mu_hi)
    colours = ssp.diffuse_colours_ab()
    col = np.array([colours[_REGION_COLOURS[r]] for r in region]).reshape(n, 4)
    m_px = ssp.mags_from_colours(mu_v - 2.5 * np.log10(PIXEL_AREA_ARCSEC2), col)
    env["region"] = np.array(REGIONS)[region]
    env["mu_v"] = mu_v
    env["clump_sigma"] = np.asarray(p["clump_sigma"], float)[env_bin]
    bg = ssp.count_rate(m_px)                                   # (N, 5) e-/s per pixel

    # Dust lanes across the surroundings (attenuate the diffuse light only).
    lane = rng.uniform(size=n) < np.asarray(p["dust_lane_probability"], float)[env_bin]
    li = np.flatnonzero(lane)
    lanes = pd.DataFrame(
        {
            "cluster": li,
            "a0": rng.uniform(*p["dust_lane_a0"], li.size),
            "width_px": rng.uniform(*p["dust_lane_width_pc"], li.size) / pc_per_px,
            "length_px": rng.uniform(*p["dust_lane_length_pc"], li.size) / pc_per_px,
            "theta": rng.uniform(0, np.pi, li.size),
            "offset_px": rng.uniform(-30.0, 30.0, li.size),
        }
    )
    env["dust_lane"] = lane

    # Nebula: ionised gas around young clusters (Hannon et al. 2019, 2022).
    neb_bin = clusters.bin_index(t_env, p["nebula_age_edges_myr"])
    p_neb = np.append(np.asarray(p["nebula_probability"], float), 0.0)[neb_bin]
    has_neb = rng.uniform(size=n) < p_neb
    ni = np.flatnonzero(has_neb)
    compact = neb_bin[ni] == 0
    size_pc = np.where(
        compact,
        rng.uniform(*p["nebula_compact_sigma_pc"], ni.size),
        rng.uniform(*p["nebula_shell_radius_pc"], ni.size),
    )
    env_log_age = env["env_log_age"].to_numpy()
    zi = env["env_z_index"].to_numpy()
    env_mags = (
        ssp.abs_mag_ab(env_log_age[ni], zi[ni])
        - 2.5 * np.log10(env["env_mass_formed"].to_numpy()[ni] / 1e4)[:, None]
        + dmod
        + k * p["r_v"] * env["env_ebv"].to_numpy()[ni, None]
    )
    dm = ssp.nebular_dm(env_log_age[ni], p["nebular_logU"])
    amp = rng.uniform(*p["nebula_amplitude"], ni.size)
    neb_flux = amp[:, None] * (10.0 ** (-0.4 * dm) - 1.0) * ssp.count_rate(env_mags)
    nebulae = pd.DataFrame({"cluster": ni, "compact": compact, "size_px": size_pc / pc_per_px})
    env["nebula"] = np.where(has_neb, np.where(neb_bin == 0, "compact", "shell"), "none")

    # Neighbouring (uncatalogued) clusters, clustered as r^-0.8, with similar ages.
    lam = p["neighbour_base"] + p["neighbour_young"] * np.exp(-t_env / p["neighbour_timescale_myr"])
    n_nb = rng.poisson(lam)
    owner = np.repeat(np.arange(n), n_nb)
    m = owner.size
    r = R_px * rng.uniform(size=m) ** (1.0 / (2.0 + p["neighbour_slope"]))
    phi = rng.uniform(0, 2 * np.pi, m)
    nb_log_age = np.clip(
        np.log10(t_env[owner] * 10.0 ** rng.normal(0, p["neighbour_age_scatter_dex"], m)) + 6.0,
        6.0, 10.1,
    )
    nb_a_px, nb_flux = clusters.draw_uncatalogued(rng, nb_log_age, distance_mpc, pc_per_px, p)
    neighbours = pd.DataFrame(
        {"cluster": owner, "dx": r * np.cos(phi), "dy": r * np.sin(phi),
         "a_px": nb_a_px, "log_age": nb_log_age}
    )
    env["n_neighbours"] = n_nb

    # Young field stars: blue massive stars and some red supergiants.
    young = t_env < p["field_star_max_age_myr"]
    n_st = np.where(young, rng.poisson(rng.uniform(*p["field_star_count"], n)), 0)
    s_owner = np.repeat(np.arange(n), n_st)
    ms = s_owner.size
    rs = R_px * np.sqrt(rng.uniform(size=ms))
    ps = rng.uniform(0, 2 * np.pi, ms)
    mv = rng.uniform(*p["field_star_mv_range"], ms)
    blue = ssp.abs_mag_ab(np.array([6.5]), np.array([0]))[0]
    blue_vega_col = _vega_colours(blue)
    red = rng.uniform(size=ms) < 0.2
    col_vega = np.where(red[:, None], np.asarray(p["rsg_vega_colours"], float), blue_vega_col)
    st_ebv = env["env_ebv"].to_numpy()[s_owner] * rng.uniform(0.5, 1.0, ms)
    st_mags = (
        ssp.mags_from_colours(mv, col_vega) - ssp.vega_minus_ab() + dmod
        + k * p["r_v"] * st_ebv[:, None]
    )
    stars = pd.DataFrame({"cluster": s_owner, "dx": rs * np.cos(ps), "dy": rs * np.sin(ps)})
    env["n_field_stars"] = n_st

    return env, bg, lanes, nebulae, neb_flux, neighbours, nb_flux, stars, ssp.count_rate(st_mags)


def _vega_colours(m_ab: np.ndarray) -> np.ndarray:
    vega = m_ab + ssp.vega_minus_ab()
    return np.array([vega[0] - vega[1], vega[1] - vega[2], vega[2] - vega[3], vega[3] - vega[4]])
