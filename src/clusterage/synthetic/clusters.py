"""The catalogued clusters of one galaxy: ages, metallicities, reddening, masses, sizes.

These are properties of the cluster itself, so they always follow its own age, whatever
``env_strength`` says (the environment is drawn in environment.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import ssp


def draw_reference_rows(rng, n_reference: int, n: int) -> np.ndarray:
    """n positions in a galaxy's reference labels: without replacement while they last (scale
    <= 1 keeps the real distribution exactly at scale 1), then with replacement."""
    k = min(n, n_reference)
    rows = rng.permutation(n_reference)[:k]
    if n > k:
        rows = np.concatenate([rows, rng.integers(0, n_reference, n - k)])
    return rows


def draw_log_ages(rng, reference_ages: np.ndarray, n: int, p: dict) -> np.ndarray:
    """n ages: reference labels (draw_reference_rows), or flat in log age."""
    if p["age_distribution"] == "flat":
        lo, hi = p["flat_log_age_range"]
        return rng.uniform(lo, hi, n)
    return reference_ages[draw_reference_rows(rng, reference_ages.size, n)]


def bin_index(age_myr: np.ndarray, edges) -> np.ndarray:
    """Index of the age bin (0 .. len(edges)) that each age falls in."""
    return np.searchsorted(np.asarray(edges, float), np.asarray(age_myr, float), side="right")


def draw_ebv(rng, age_myr: np.ndarray, p: dict) -> np.ndarray:
    """Lognormal E(B-V) whose median falls with age (Whitmore et al. 2023; Turner et al. 2021)."""
    med = np.asarray(p["ebv_median"], float)[bin_index(age_myr, p["ebv_age_edges_myr"])]
    ebv = med * 10.0 ** rng.normal(0.0, p["ebv_sigma_dex"], np.shape(age_myr))
    return np.clip(ebv, 0.0, p["ebv_max"])


def draw_power_law_mass(rng, lo: np.ndarray, hi: float, slope: float) -> np.ndarray:
    """dN/dM ~ M^slope between lo (per object) and hi, by inverting the CDF."""
    lo = np.minimum(np.asarray(lo, float), hi)
    u = rng.uniform(0.0, 1.0, lo.shape)
    g = slope + 1.0
    if abs(g) < 1e-9:
        return lo * (hi / lo) ** u
    return (lo**g + u * (hi**g - lo**g)) ** (1.0 / g)


def draw_metallicity(rng, age_myr: np.ndarray, p: dict) -> np.ndarray:
    """0 = Z 0.02 (solar), 1 = Z 0.004; old clusters are mostly metal-poor."""
    old = np.asarray(age_myr) > p["old_age_myr"]
    return (old & (rng.uniform(size=old.shape) < p["old_low_z_probability"])).astype(int)


def draw_reff_pc(rng, mass: np.ndarray, p: dict, age_myr: np.ndarray | None = None) -> np.ndarray:
    """Brown & Gnedin 2021 size-mass relation with lognormal scatter, times
    (t / 10 Myr)^reff_age_slope where ``age_myr`` is given (older clusters are larger; Brown &
    Gnedin 2021, Ryon et al. 2017). The age factor draws no random number."""
    reff = p["reff_pc"] * (mass / 1e4) ** p["reff_mass_slope"] * 10.0 ** rng.normal(
        0.0, p["reff_scatter_dex"], np.shape(mass)
    )
    if age_myr is not None and p["reff_age_slope"] != 0:
        reff = reff * (np.asarray(age_myr, float) / 10.0) ** p["reff_age_slope"]
    return reff


def make_population(rng, log_age: np.ndarray, distance_mpc: float, p: dict) -> pd.DataFrame:
    """Catalogued clusters, each bright enough (M_V Vega <= mv_limit after dust) to be detected."""
    n = log_age.size
    age_myr = 10.0 ** (log_age - 6.0)
    z_index = draw_metallicity(rng, age_myr, p)
    ebv = draw_ebv(rng, age_myr, p)
    k = ssp.extinction_k(p["extinction_law"])
    a_band = k[None, :] * p["r_v"] * ebv[:, None]            # (N, 5) magnitudes of extinction
    m_abs_1e4 = ssp.abs_mag_ab(log_age, z_index)             # per 1e4 Msun formed
    mv_vega_1e4 = m_abs_1e4[:, ssp.V] + ssp.vega_minus_ab()[ssp.V] + a_band[:, ssp.V]
    # The faintest detectable mass: M_V(M) = M_V(1e4) - 2.5 log10(M / 1e4) <= limit.
    m_detect = 1e4 * 10.0 ** (0.4 * (mv_vega_1e4 - p["mv_limit_vega"]))
    lo, hi = p["mass_range"]
    mass_formed = draw_power_law_mass(rng, np.maximum(lo, m_detect), hi, p["mass_slope"])
    mass = mass_formed * ssp.live_fraction(log_age, z_index)
    reff_pc = draw_reff_pc(rng, mass, p, age_myr)
    m_app = m_abs_1e4 - 2.5 * np.log10(mass_formed / 1e4)[:, None] + ssp.distance_modulus(
        distance_mpc
    ) + a_band
    cls_bin = bin_index(age_myr, p["env_age_edges_myr"][:2])
    p3 = np.asarray(p["class3_probability"], float)[cls_bin]
    u = rng.uniform(size=n)
    cls = np.where(u < p3, 3, np.where(u < p3 + (1 - p3) * 0.55, 1, 2))
    rsg = (
        (age_myr >= p["rsg_age_range_myr"][0])
        & (age_myr <= p["rsg_age_range_myr"][1])
        & (rng.uniform(size=n) < p["rsg_probability"])
    )
    rsg_mv = rng.uniform(*p["rsg_mv_range"], n)
    pop = pd.DataFrame(
        {
            "log_age": log_age,
            "age_myr": age_myr,
            "metallicity": np.where(z_index == 1, 0.004, 0.02),
            "z_index": z_index,
            "ebv": ebv,
            "mass_formed": mass_formed,
            "mass": mass,
            "reff_pc": reff_pc,
            "cluster_class": cls,
            "rsg": rsg,
            "rsg_mv_vega": np.where(rsg, rsg_mv, np.nan),
        }
    )
    for b, f in enumerate(ssp.FILTERS):
        pop[f"m_ab_{f}"] = m_app[:, b]
    return pop


def draw_uncatalogued(rng, log_age: np.ndarray, distance_mpc: float, pc_per_px: float,
                      p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Clusters outside the catalog (neighbours, companions) of the given log ages: metallicity,
    E(B-V), a mass from the whole mass function (no detection limit) and a size at that age.
    Returns their EFF core radii a = R_eff / sqrt(3) in pixels and (N, 5) count rates."""
    age_myr = 10.0 ** (log_age - 6.0)
    z_index = draw_metallicity(rng, age_myr, p)
    ebv = draw_ebv(rng, age_myr, p)
    mass_formed = draw_power_law_mass(rng, np.full(log_age.size, p["mass_range"][0]),
                                      p["mass_range"][1], p["mass_slope"])
    reff_pc = draw_reff_pc(rng, mass_formed * ssp.live_fraction(log_age, z_index), p, age_myr)
    mags = (ssp.abs_mag_ab(log_age, z_index) - 2.5 * np.log10(mass_formed / 1e4)[:, None]
            + ssp.distance_modulus(distance_mpc)
            + ssp.extinction_k(p["extinction_law"]) * p["r_v"] * ebv[:, None])
    return reff_pc / np.sqrt(3.0) / pc_per_px, ssp.count_rate(mags)


def rsg_mags_ab(mv_vega: np.ndarray, ebv: np.ndarray, distance_mpc: float, p: dict) -> np.ndarray:
    """(N, 5) apparent AB magnitudes of red supergiants of given M_V (Vega) behind E(B-V)."""
    return star_mags_ab(mv_vega, p["rsg_vega_colours"], ebv, distance_mpc, p)


def star_mags_ab(mv_vega: np.ndarray, vega_colours, ebv: np.ndarray, distance_mpc: float,
                 p: dict) -> np.ndarray:
    """(N, 5) apparent AB magnitudes of stars of given M_V (Vega) and Vega colours (NUV-U, U-B,
    B-V, V-I) behind E(B-V)."""
    vega = ssp.mags_from_colours(mv_vega, np.asarray(vega_colours, float))
    ab = vega - ssp.vega_minus_ab()
    k = ssp.extinction_k(p["extinction_law"])
    return ab + ssp.distance_modulus(distance_mpc) + k * p["r_v"] * np.asarray(ebv)[:, None]


def youth(age_myr: np.ndarray, p: dict) -> np.ndarray:
    """max(0, 1 - t / young_stars_age_myr): 1 at birth, 0 from young_stars_age_myr on."""
    return np.clip(1.0 - np.asarray(age_myr, float) / p["young_stars_age_myr"], 0.0, 1.0)


def draw_shapes(rng, age_myr: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Axis ratio q = 1 - young_ellipticity x youth and a random position angle (radians)
    per cluster: young clusters are irregular, older ones round. Own stream, drawn only when
    young_ellipticity > 0 (the caller's choice)."""
    q = 1.0 - p["young_ellipticity"] * youth(age_myr, p)
    theta = rng.uniform(0.0, np.pi, np.shape(age_myr))
    return q, theta


def draw_young_stars(rng, pop: pd.DataFrame, pc_per_px: float, distance_mpc: float, p: dict,
                     axis_ratio: np.ndarray | None = None, theta: np.ndarray | None = None):
    """Resolved massive (O/B) stars of young clusters, which are clumpy associations.

    Per cluster N ~ Poisson(young_stars_per_1e4msun x M_formed / 1e4 x youth), each offset from
    the centre by a Gaussian of sigma young_stars_spread x R_eff per axis (stretched like the
    cluster's own shape where ``axis_ratio`` is given), M_V uniform in young_stars_mv_range, the
    Vega colours young_stars_vega_colours, behind the cluster's E(B-V). Returns (per-cluster
    counts, DataFrame cluster/dx/dy in pixels, (N_stars, 5) count rates).
    """
    n = len(pop)
    lam = (p["young_stars_per_1e4msun"] * pop["mass_formed"].to_numpy() / 1e4
           * youth(pop["age_myr"].to_numpy(), p))
    counts = rng.poisson(lam)
    owner = np.repeat(np.arange(n), counts)
    m = owner.size
    sigma = p["young_stars_spread"] * pop["reff_pc"].to_numpy()[owner] / pc_per_px
    u = rng.normal(0.0, 1.0, m) * sigma
    v = rng.normal(0.0, 1.0, m) * sigma
    if axis_ratio is not None:
        q = np.asarray(axis_ratio, float)[owner]
        u, v = u / np.sqrt(q), v * np.sqrt(q)           # major axis along u
        c, s = np.cos(theta[owner]), np.sin(theta[owner])
        u, v = c * u - s * v, s * u + c * v
    mv = rng.uniform(*p["young_stars_mv_range"], m)
    flux = ssp.count_rate(star_mags_ab(mv, p["young_stars_vega_colours"],
                                       pop["ebv"].to_numpy()[owner], distance_mpc, p))
    return counts, pd.DataFrame({"cluster": owner, "dx": u, "dy": v, "mv_vega": mv}), flux
