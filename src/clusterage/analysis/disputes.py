"""Clusters whose catalog (SED) age the CNN disputes.

Two steps, each a table:

- the **ensemble** of one setting: per cluster with an out-of-sample prediction, its SED log age,
  the mean and the spread (population standard deviation, ddof 0) of the CNN's predictions over
  the seeds, and the residual ``(CNN mean - SED) / scatter``, where ``scatter`` is the setting's
  scatter of the CNN mean against the SED ages over the same clusters (1.49 median absolute
  difference, method.md). Only test-split predictions are out of sample, so clusters never in a
  test split are absent; the summary says how many.
- the **disagreement catalog**: the clusters with ``|residual| > threshold`` whose CNN spread is at
  most ``max_spread`` scatters (the seeds agree with each other, not with the catalog), most
  discrepant first, with their U-B and V-I (Vega) and catalog E(B-V) where the catalogs have them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage.atomic import atomic_path, write_json
from clusterage.metrics import scatter
from clusterage.survey.catalog import ID, CatalogError, read_table

log = logging.getLogger(__name__)

ENSEMBLE_COLUMNS = ["galaxy", "cluster_id", "sed_log_age", "cnn_mean", "cnn_spread", "n_models",
                    "residual_dex", "residual"]
CATALOG_COLUMNS = ["rank", *ENSEMBLE_COLUMNS, "cnn_says", "u_b_vega", "v_i_vega", "sed_ebv"]
PREDICTION_COLUMNS = ("galaxy", "cluster_id", "split", "log_age_true", "log_age_pred")


class DisputesError(ValueError):
    """An input the ensemble or the catalog cannot use; the message names it."""


def read_runs(run_dirs, setting: str) -> tuple[list[pd.DataFrame], list[str]]:
    """predictions.csv of each finished run of a setting, and the run folders without one."""
    frames, missing = [], []
    for run in run_dirs:
        path = Path(run) / "predictions.csv"
        if not path.is_file():
            missing.append(str(run))
            continue
        frame = pd.read_csv(path)
        lacking = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
        if lacking:
            raise DisputesError(f"{path} lacks column(s) {', '.join(lacking)}")
        frames.append(frame)
    if not frames:
        raise DisputesError(
            f"setting {setting}: no finished seed to combine (no predictions.csv in "
            f"{', '.join(str(r) for r in run_dirs) or 'any run folder'})")
    return frames, missing


def ensemble(frames: list[pd.DataFrame], setting: str, split: str = "test"):
    """Combine the runs' ``split`` predictions per cluster; returns (table, summary)."""
    sample = pd.concat([f[["galaxy", "cluster_id"]] for f in frames]).drop_duplicates()
    rows = pd.concat([f[f["split"] == split] for f in frames], ignore_index=True)
    keys = ["galaxy", "cluster_id"]
    n_sed = rows.groupby(keys)["log_age_true"].nunique()
    if (n_sed > 1).any():
        (g, c) = n_sed[n_sed > 1].index[0]
        raise DisputesError(f"setting {setting}: cluster {g} #{c} has different SED ages in "
                            "different runs; were they trained on different datasets?")
    grouped = rows.groupby(keys, sort=True)
    table = pd.DataFrame({
        "sed_log_age": grouped["log_age_true"].first(),
        "cnn_mean": grouped["log_age_pred"].mean(),
        "cnn_spread": grouped["log_age_pred"].std(ddof=0),
        "n_models": grouped["log_age_pred"].size(),
    }).reset_index()
    s = scatter(table["cnn_mean"], table["sed_log_age"])
    table["residual_dex"] = table["cnn_mean"] - table["sed_log_age"]
    table["residual"] = table["residual_dex"] / s if s > 0 else np.nan
    n_absent = len(sample) - len(table)
    summary = {"setting": setting, "split": split, "n_runs": len(frames),
               "n_sample": int(len(sample)), "n_clusters": int(len(table)),
               "n_absent": int(n_absent), "scatter": s,
               "note": (f"{len(table)} of the {len(sample)} clusters of the sample have an "
                        f"out-of-sample ({split}) prediction; the other {n_absent} were never in "
                        f"a {split} split and are absent")}
    return table[ENSEMBLE_COLUMNS], summary


def write_ensemble(run_dirs, setting: str, table_path, summary_path, split: str = "test"):
    frames, missing = read_runs(run_dirs, setting)
    table, summary = ensemble(frames, setting, split)
    summary["missing_runs"] = missing
    if missing:
        log.warning("setting %s: %d run(s) not finished, combined without them: %s", setting,
                    len(missing), ", ".join(missing))
    log.info("setting %s: %s; scatter of the CNN mean %.3f dex over %d run(s)", setting,
             summary["note"], summary["scatter"], summary["n_runs"])
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5f")
    write_json(summary_path, summary)
    return table, summary


def flag(table: pd.DataFrame, scatter_dex: float, threshold: float, max_spread: float):
    """Clusters with |residual| > threshold whose spread is <= max_spread scatters."""
    keep = (table["residual"].abs() > threshold) & (table["cnn_spread"] <= max_spread * scatter_dex)
    out = table[keep].copy()
    out = out.reindex(out["residual"].abs().sort_values(ascending=False).index)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["cnn_says"] = np.where(out["residual"] < 0, "younger", "older")
    return out.reset_index(drop=True)


def catalog_root(galaxy_files: dict, catalog_paths) -> Path:
    """The data folder under which ``catalog_paths`` (a rule's catalog inputs) hold every
    galaxy's obs and sed tables at their MAST-relative paths (``GalaxyFiles.catalog_relpaths``)."""
    paths = {Path(p) for p in catalog_paths}
    rels = [Path(rel) for files in galaxy_files.values()
            for pair in files.catalog_relpaths() for rel in pair]
    if not rels:
        return Path(".")
    first = rels[0].as_posix()
    ends = [p for p in paths if p.as_posix() == first or p.as_posix().endswith("/" + first)]
    if not ends:
        raise DisputesError(f"no catalog input is the table {first} of {next(iter(galaxy_files))}")
    root = Path(ends[0].as_posix()[: -len(first)] or ".")
    missing = [rel.as_posix() for rel in rels if root / rel not in paths]
    if missing:
        raise DisputesError(f"catalog tables missing from the inputs under {root}: {', '.join(missing)}")
    return root


def catalog_colours(galaxy_files: dict, data_dir) -> pd.DataFrame:
    """U-B and V-I (Vega) and the catalog E(B-V) of every catalogued cluster of the galaxies.

    ``galaxy_files``: GalaxyFiles per galaxy (the filter of each band names the columns
    ``PHANGS_<filter>_VEGA``). E(B-V) is NaN where the sed table has no PHANGS_EBV_MINCHISQ.
    """
    parts = []
    for galaxy, files in galaxy_files.items():
        u, b, v, i = (f"PHANGS_{f.upper()}_VEGA" for f in files.filters[1:])
        for obs_rel, sed_rel in files.catalog_relpaths():
            obs = read_table(Path(data_dir) / obs_rel, (ID, u, b, v, i))
            sed_path = Path(data_dir) / sed_rel
            try:
                sed = read_table(sed_path, (ID, "PHANGS_EBV_MINCHISQ"))
            except CatalogError:
                sed = pd.DataFrame({ID: obs[ID], "PHANGS_EBV_MINCHISQ": np.nan})
            t = obs.merge(sed, on=ID, how="left")
            parts.append(pd.DataFrame({"galaxy": galaxy, "cluster_id": t[ID].astype(np.int64),
                                       "u_b_vega": t[u] - t[b], "v_i_vega": t[v] - t[i],
                                       "sed_ebv": t["PHANGS_EBV_MINCHISQ"]}))
    cols = ["galaxy", "cluster_id", "u_b_vega", "v_i_vega", "sed_ebv"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def with_colours(catalog: pd.DataFrame, colours: pd.DataFrame) -> pd.DataFrame:
    """Add each cluster's colours; a cluster absent from the catalogs is named."""
    out = catalog.drop(columns=[c for c in ("u_b_vega", "v_i_vega", "sed_ebv") if c in catalog])
    out = out.merge(colours, on=["galaxy", "cluster_id"], how="left", indicator=True)
    lost = out[out["_merge"] == "left_only"]
    if len(lost):
        r = lost.iloc[0]
        raise DisputesError(f"cluster {r['galaxy']} #{r['cluster_id']} of the ensemble is in no "
                            f"catalog given ({len(lost)} such clusters)")
    return out.drop(columns="_merge")


def write_catalog(table_path, summary_path, out_path, *, threshold: float, max_spread: float,
                  colours: pd.DataFrame | None = None) -> pd.DataFrame:
    """The disagreement catalog of one setting's ensemble table (CSV, most discrepant first)."""
    table = pd.read_csv(table_path)
    summary = json.loads(Path(summary_path).read_text())
    s = float(summary["scatter"])
    out = flag(table, s, threshold, max_spread)
    if colours is not None:
        out = with_colours(out, colours)
    out = out.reindex(columns=CATALOG_COLUMNS)
    if len(out):
        log.info("setting %s: %d of %d clusters disputed (|residual| > %g scatters of %.3f dex, "
                 "spread <= %g scatters)", summary["setting"], len(out), len(table), threshold,
                 s, max_spread)
    else:
        log.info("setting %s: no cluster disputed: none of the %d clusters has |residual| > %g "
                 "scatters (%.3f dex) with spread <= %g scatters; the catalog is empty",
                 summary["setting"], len(table), threshold, s, max_spread)
    with atomic_path(out_path) as tmp:
        out.to_csv(tmp, index=False, float_format="%.5f")
    return out


def current(setting: str, runs, threshold: float, max_spread: float, **_) -> dict | None:
    """The ensemble and catalog of a setting from the runs finished so far (partial report);
    None, with a log line, when none is."""
    try:
        frames, missing = read_runs(runs, setting)
    except DisputesError as exc:
        log.info("%s; its disputed ages are left out", exc)
        return None
    table, summary = ensemble(frames, setting)
    summary["missing_runs"] = missing
    return {"setting": setting, "table": table, "summary": summary, "threshold": threshold,
            "catalog": flag(table, summary["scatter"], threshold, max_spread)}
