"""Score the disagreement catalog against the SED errors planted in a synthetic survey.

    clusterage planted results/known_answer/disputes [--setting full/five_band/none/true]
        [--thresholds 1.5 2 2.5 3 4] [--out docs/figures/known_answer_disputes]
        [--environment full/white_light/inner24/true --configfile <the run's config>]

Reads what a finished run wrote (``<results>/disputes/<setting>/ensemble.csv`` and
``disagreements.csv``) and the survey's truth (``<results>/survey/synthetic-truth/``), which the
workflow itself never reads. Prints, and with ``--out`` writes as CSV: for the catalog and for
other thresholds, how many clusters are flagged, how many of them are planted errors (precision),
how many planted errors are flagged (recall), and the base rate (the share of planted errors among
the clusters that have an out-of-sample prediction: the precision of flagging at random), each
with its 95% interval, and where the interval of precision minus base rate lies (above 0: the
list finds planted errors better than chance); and the scatter of the CNN against the catalog
ages and against the true ages.

The intervals redraw the clusters (clusterage.analysis.uncertainty) with the list held fixed: the list is
the ensemble of the seeds, so the seeds are not redrawn, and the intervals say so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage.analysis import environment_disputes
from clusterage.analysis.comparisons import WHERE
from clusterage.analysis.disputes import flag
from clusterage.analysis.uncertainty import Bootstrap, ClusterDraws, Estimate
from clusterage.atomic import atomic_path
from clusterage.metrics import scatter

KEYS = ["galaxy", "cluster_id"]


def read_truth(survey) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(true log age per cluster, planted SED errors) of every galaxy of a synthetic survey."""
    survey = Path(survey)
    truth_files = sorted((survey / "synthetic-truth").glob("*.csv"))
    if not truth_files:
        raise FileNotFoundError(f"{survey}/synthetic-truth/: no truth table (a synthetic survey?)")
    truth = pd.concat([pd.read_csv(p, usecols=[*KEYS, "log_age"]) for p in truth_files],
                      ignore_index=True)
    error_files = sorted((survey / "synthetic-truth" / "sed_errors").glob("*.csv"))
    errors = pd.concat([pd.read_csv(p) for p in error_files], ignore_index=True) if error_files \
        else pd.DataFrame(columns=[*KEYS, "kind"])
    return truth, errors


def _member(table: pd.DataFrame, other: pd.DataFrame) -> np.ndarray:
    return table[KEYS].merge(other[KEYS].drop_duplicates(), on=KEYS, how="left",
                             indicator=True)["_merge"].eq("both").to_numpy(float)


def score(table: pd.DataFrame, flagged: pd.DataFrame, errors: pd.DataFrame,
          boot: Bootstrap | None = None) -> dict:
    """Precision, recall and base rate of one flagged list among the ensemble's clusters; with
    ``boot``, their 95% intervals over redrawn clusters and the verdict on precision - base rate."""
    planted, hit = _member(table, errors), _member(table, flagged)
    n, n_planted, n_flagged, n_hits = len(table), int(planted.sum()), int(hit.sum()), int((hit * planted).sum())
    out = {"n_clusters": n, "n_planted": n_planted, "base_rate": n_planted / n if n else float("nan"),
           "n_flagged": n_flagged, "n_flagged_planted": n_hits,
           "precision": n_hits / n_flagged if n_flagged else float("nan"),
           "recall": n_hits / n_planted if n_planted else float("nan")}
    if boot is not None and n:
        draws = ClusterDraws.drawn(list(zip(table["galaxy"], table["cluster_id"])), np.zeros(n), boot)
        c = draws.counts.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = (c @ (hit * planted)) / (c @ hit)
            recall = (c @ (hit * planted)) / (c @ planted)
            base = (c @ planted) / n
        for name, reps in (("precision", precision), ("recall", recall), ("base_rate", base)):
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = boot.interval(reps)
        gap = Estimate(out["precision"] - out["base_rate"], *boot.interval(precision - base))
        out["precision_minus_base_rate"] = WHERE[gap.excludes_zero()] if np.isfinite(gap.value) else ""
        if n_flagged and not n_hits:
            # no redraw holds a planted one among the flagged: the precision's bootstrap interval
            # collapses to 0 and cannot tell a rate below the base rate from one at it
            out["precision_minus_base_rate"] = f"no interval (0 of {n_flagged} flagged are planted)"
        out["resampled"] = "clusters (the seeds' ensemble held fixed)"
    return out


def evaluate(results, setting: str, thresholds=(1.5, 2.0, 2.5, 3.0, 4.0),
             max_spread: float | None = None, boot: Bootstrap | None = None) -> tuple[pd.DataFrame, dict]:
    """Rows: the run's catalog, then each threshold; and the scatters against catalog and truth."""
    results = Path(results)
    folder = results / "disputes" / setting
    table = pd.read_csv(folder / "ensemble.csv")
    summary = json.loads((folder / "ensemble.json").read_text())
    catalog = pd.read_csv(folder / "disagreements.csv")
    truth, errors = read_truth(results / "survey")
    s = float(summary["scatter"])
    rows = [{"flagged": "catalog of the run", **score(table, catalog, errors, boot)}]
    spread = max_spread if max_spread is not None else 1e9
    for t in thresholds:
        rows.append({"flagged": f"|residual| > {t:g}" + (f", spread <= {max_spread:g}"
                                                          if max_spread is not None else ""),
                     **score(table, flag(table, s, t, spread), errors, boot)})
    with_truth = table.merge(truth, on=KEYS, how="left")
    planted = table.merge(errors[KEYS], on=KEYS, how="left", indicator=True)["_merge"] == "both"
    clean = table[~planted.to_numpy()]
    scatters = {
        "setting": setting, "n_clusters": len(table), "n_planted": int(planted.sum()),
        "scatter_vs_catalog": s,
        "scatter_vs_truth": scatter(with_truth["cnn_mean"], with_truth["log_age"]),
        "scatter_vs_catalog_without_planted": scatter(clean["cnn_mean"], clean["sed_log_age"]),
        "planted_by_kind": errors.merge(table[KEYS], on=KEYS)["kind"].value_counts().to_dict(),
    }
    return pd.DataFrame(rows), scatters


def evaluate_environment(results, environment: str, cluster: str, *, threshold: float,
                         agree: float, thresholds=(1.0, 1.5, 2.0, 2.5),
                         boot: Bootstrap | None = None) -> pd.DataFrame:
    """The three rules side by side over the clusters both models have out of sample: the
    cluster model alone (|residual| > t), the environment model alone (|residual| > t) and the
    combined rule (environment > t while the cluster model agrees within ``agree``), the last at
    ``threshold`` (the run's catalog) and at each of ``thresholds``."""
    results = Path(results)
    tables = {name: pd.read_csv(results / "disputes" / name / "ensemble.csv")
              for name in (environment, cluster)}
    joined = environment_disputes.join(tables[environment], tables[cluster], environment, cluster)
    _, errors = read_truth(results / "survey")
    catalog = pd.read_csv(results / "disputes" / environment / "environment_disagreements.csv")
    rows = [{"rule": "combined", "flagged": f"catalog of the run (environment > {threshold:g}, "
                                            f"cluster <= {agree:g})",
             **score(joined, catalog, errors, boot)}]
    for t in thresholds:
        rows.append({"rule": "combined", "flagged": f"environment > {t:g}, cluster <= {agree:g}",
                     **score(joined, environment_disputes.flag(joined, t, agree), errors, boot)})
    for rule, column in (("environment", "environment_residual"), ("cluster", "cluster_residual")):
        for t in thresholds:
            rows.append({"rule": rule, "flagged": f"|residual| > {t:g}",
                         **score(joined, joined[joined[column].abs() > t], errors, boot)})
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="clusterage planted",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("results", help="results folder of a finished run on a synthetic survey")
    ap.add_argument("--setting", default="full/five_band/none/true")
    ap.add_argument("--thresholds", nargs="+", type=float, default=[1.5, 2.0, 2.5, 3.0, 4.0])
    ap.add_argument("--max-spread", type=float, default=None,
                    help="also require a spread of at most this many scatters at each threshold")
    ap.add_argument("--environment", metavar="SETTING",
                    help="also score the disputes from this environment-only setting against "
                         "the cluster model --setting, and each model alone (rows of <out>-"
                         "environment.csv)")
    ap.add_argument("--out", help="output path without suffix (writes <out>.csv)")
    ap.add_argument("--configfile", nargs="*", default=[], metavar="FILE",
                    help="the run's config files: their uncertainty draws the intervals, their "
                         "disputes.environment cuts the combined rule (default: the schema's)")
    args = ap.parse_args(argv)
    from clusterage.configfile import load_config

    config = load_config(Path("."), args.configfile)
    boot = Bootstrap.from_config(config)
    rows, scatters = evaluate(args.results, args.setting, args.thresholds, args.max_spread, boot)
    if args.out:
        with atomic_path(f"{args.out}.csv") as tmp:
            rows.to_csv(tmp, index=False, float_format="%.4f")
    print(rows.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(json.dumps(scatters, indent=2))
    if args.environment:
        cut = config["disputes"]["environment"]
        rules = evaluate_environment(args.results, args.environment, args.setting,
                                     threshold=cut["threshold"], agree=cut["agree"], boot=boot)
        if args.out:
            with atomic_path(f"{args.out}-environment.csv") as tmp:
                rules.to_csv(tmp, index=False, float_format="%.4f")
        print(rules.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
