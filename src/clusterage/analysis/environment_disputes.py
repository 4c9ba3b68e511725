"""Ages disputed by a cluster's surroundings: the age-extinction degeneracy broken by what the
colours cannot see.

The cluster model (the first setting of ``disputes.settings``: by default the unmasked five_band
CNN) reads the age from the same colours as the SED fit, so where dust and age trade off it
repeats the fit's wrong answer. An environment-only model (an inner mask hides the cluster) reads
the age from the surroundings (ionised gas, young neighbours, the spiral arm), which the
degeneracy does not touch. A cluster is **disputed by its environment** when

- the environment model contradicts the catalog: ``|environment residual| > threshold``, in
  scatters of the environment model against the catalog ages, and
- the cluster model agrees with the catalog: ``|cluster residual| <= agree``, in scatters of the
  cluster model,

both residuals being (ensemble mean - SED log age) / scatter over the same out-of-sample clusters
(``clusterage.analysis.disputes.ensemble``; with ``disputes.folds`` >= 2 every cluster of the
sample has one). The catalog is sorted by the environment's residual, largest first.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage.atomic import atomic_path

from .disputes import DisputesError, with_colours

log = logging.getLogger(__name__)

KEYS = ["galaxy", "cluster_id"]
JOINED_COLUMNS = ["galaxy", "cluster_id", "sed_log_age", "environment_mean", "environment_spread",
                  "environment_residual", "cluster_mean", "cluster_spread", "cluster_residual"]
CATALOG_COLUMNS = ["rank", *JOINED_COLUMNS, "environment_says", "u_b_vega", "v_i_vega", "sed_ebv"]


def join(environment: pd.DataFrame, cluster: pd.DataFrame, environment_setting: str = "environment",
         cluster_setting: str = "cluster") -> pd.DataFrame:
    """The two ensemble tables side by side, over the clusters both have out of sample.

    Raises DisputesError naming a cluster whose SED age differs between the two (models trained
    on different datasets), or when the two share no cluster."""
    env = environment[[*KEYS, "sed_log_age", "cnn_mean", "cnn_spread", "residual"]].rename(
        columns={"cnn_mean": "environment_mean", "cnn_spread": "environment_spread",
                 "residual": "environment_residual"})
    clu = cluster[[*KEYS, "sed_log_age", "cnn_mean", "cnn_spread", "residual"]].rename(
        columns={"sed_log_age": "cluster_sed", "cnn_mean": "cluster_mean",
                 "cnn_spread": "cluster_spread", "residual": "cluster_residual"})
    both = env.merge(clu, on=KEYS, how="inner")
    if not len(both):
        raise DisputesError(f"{environment_setting} and {cluster_setting} share no cluster with an "
                            "out-of-sample prediction (different samples or splits?)")
    differ = ~np.isclose(both["sed_log_age"], both["cluster_sed"], atol=1e-4)
    if differ.any():
        r = both[differ].iloc[0]
        raise DisputesError(f"cluster {r['galaxy']} #{r['cluster_id']} has SED age "
                            f"{r['sed_log_age']:.3f} in {environment_setting} but "
                            f"{r['cluster_sed']:.3f} in {cluster_setting}; were they trained on "
                            "different datasets?")
    for name, table in ((environment_setting, env), (cluster_setting, clu)):
        if len(table) > len(both):
            log.warning("%s: %d of its %d clusters have no out-of-sample prediction of the other "
                        "model and are left out", name, len(table) - len(both), len(table))
    return both[JOINED_COLUMNS]


def flag(joined: pd.DataFrame, threshold: float, agree: float) -> pd.DataFrame:
    """The clusters the environment disputes while the cluster model agrees with the catalog,
    largest environment residual first, with ``rank`` and ``environment_says``."""
    keep = (joined["environment_residual"].abs() > threshold) & \
           (joined["cluster_residual"].abs() <= agree)
    out = joined[keep].copy()
    out = out.reindex(out["environment_residual"].abs().sort_values(ascending=False).index)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["environment_says"] = np.where(out["environment_residual"] < 0, "younger", "older")
    return out.reset_index(drop=True)


def write_catalog(environment_table, environment_summary, cluster_table, cluster_summary, out_path,
                  *, threshold: float, agree: float, colours: pd.DataFrame | None = None):
    """The environment's disagreement catalog (CSV) from the two settings' ensemble tables."""
    env_summary = json.loads(Path(environment_summary).read_text())
    clu_summary = json.loads(Path(cluster_summary).read_text())
    joined = join(pd.read_csv(environment_table), pd.read_csv(cluster_table),
                  env_summary["setting"], clu_summary["setting"])
    out = flag(joined, threshold, agree)
    if colours is not None:
        out = with_colours(out, colours)
    out = out.reindex(columns=CATALOG_COLUMNS)
    log.info("%s against %s: %d of %d clusters disputed by the environment (|environment "
             "residual| > %g scatters of %.3f dex while |cluster residual| <= %g scatters of "
             "%.3f dex)", env_summary["setting"], clu_summary["setting"], len(out), len(joined),
             threshold, env_summary["scatter"], agree, clu_summary["scatter"])
    with atomic_path(out_path) as tmp:
        out.to_csv(tmp, index=False, float_format="%.5f")
    return out


def rule_text(threshold: float, agree: float, environment_scatter: float,
              cluster_scatter: float) -> str:
    """The rule in two sentences, with its thresholds in dex, for the gallery and the report."""
    return (f"A cluster is disputed by its environment when the model that sees only its "
            f"surroundings puts its age more than {threshold:g} of its scatters "
            f"({threshold * environment_scatter:.2f} dex) from the catalog's, while the model that "
            f"sees the cluster's own colours stays within {agree:g} of its scatters "
            f"({agree * cluster_scatter:.2f} dex) of it. The colours agreeing with a fit the "
            f"surroundings contradict is the signature of the age-extinction degeneracy: a young "
            f"dusty cluster catalogued as old, or an old one catalogued as young and reddened.")
