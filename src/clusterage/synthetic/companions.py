"""Coeval companions: the other clusters of a cluster's own star-forming complex, of its age.

Stars form hierarchically, so a young cluster has siblings of its own age a few tens of parsecs
away (the clustering of young clusters rises steeply below ~50 pc and is gone after 40-60 Myr,
Grasha et al. 2017; PHANGS-HST associations are found on 8-64 pc scales, Larson et al. 2023).
Unlike the neighbours of ``environment`` (within 150 pc, following the environment donor's age),
the companions follow the cluster's *own* age and sit close: at the survey's distances, 8-24 pc
is 2-24 px, much of it in the ring that an inner mask of D = 12 px leaves and one of D = 24 px
hides. They are scaled by ``env_strength`` (at most 1), so that at 0 the surroundings, companions
included, carry no age.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import clusters


def expected_count(age_myr: np.ndarray, p: dict) -> np.ndarray:
    """companions_per_cluster x min(1, env_strength) x exp(-t / companions_age_myr)."""
    return (p["companions_per_cluster"] * min(1.0, p["env_strength"])
            * np.exp(-np.asarray(age_myr, float) / p["companions_age_myr"]))


def draw(rng, pop: pd.DataFrame, distance_mpc: float, pc_per_px: float, p: dict):
    """Per cluster N ~ Poisson(expected_count); each companion at a separation uniform in
    companions_radius_pc and a random angle, of the cluster's age x 10^N(0,
    companions_age_scatter_dex), with a mass from the survey's mass function, its own metallicity
    and reddening at that age, and an EFF profile like the neighbours'. Returns (per-cluster
    counts, DataFrame cluster/dx/dy/a_px/log_age in pixels, (N_companions, 5) count rates)."""
    n = len(pop)
    counts = rng.poisson(expected_count(pop["age_myr"].to_numpy(), p))
    owner = np.repeat(np.arange(n), counts)
    m = owner.size
    r = rng.uniform(*p["companions_radius_pc"], m) / pc_per_px
    phi = rng.uniform(0.0, 2.0 * np.pi, m)
    log_age = np.clip(pop["log_age"].to_numpy()[owner]
                      + rng.normal(0.0, p["companions_age_scatter_dex"], m), 6.0, 10.1)
    a_px, flux = clusters.draw_uncatalogued(rng, log_age, distance_mpc, pc_per_px, p)
    table = pd.DataFrame({"cluster": owner, "dx": r * np.cos(phi), "dy": r * np.sin(phi),
                          "a_px": a_px, "log_age": log_age})
    return counts, table, flux
