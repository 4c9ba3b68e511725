"""Collect the runs of a sweep into one tidy scatter table.

Honest about gaps: a (case, diameter) with fewer seeds than asked is marked incomplete and
the missing runs are listed, so figures can be drawn while a sweep is still going.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import predictive_power, relative_error
from .plan import build, case_settings, cases, run_dir, seeds
from .splits import SPLITS

TABLE_COLUMNS = ["case", "channels", "sample", "mask", "diameter", "shuffled_labels", "split",
                 "scatter_mean", "scatter_std", "n_seeds", "n_seeds_expected", "complete",
                 "null_scatter", "predictive_power", "relative_error_pct"]


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def collect(config: dict) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Per-seed metrics of every (case, diameter) that exists, the tidy table, missing runs."""
    results = config.get("results", "results")
    build(config)  # validates the grid
    expected = seeds(config)
    per_seed, missing = [], []
    for case_name, case in cases(config).items():
        for setting in case_settings(case_name, case):
            for seed in expected:
                path = Path(run_dir(results, setting.name, seed)) / "metrics.json"
                m = _read_json(path)
                if m is None:
                    missing.append(str(path))
                    continue
                per_seed.append({"case": case_name, "channels": setting.channels,
                                 "sample": setting.sample, "mask": case["mask"],
                                 "diameter": setting.diameter,
                                 "shuffled_labels": setting.shuffled_labels, "seed": seed,
                                 **{s: m[f"scatter_{s}"] for s in SPLITS}})
    nulls = {}
    for sample in {c["sample"] for c in config["cases"]}:
        nulls[sample] = _read_json(Path(results) / "null" / f"{sample}.json")
    per_seed = pd.DataFrame(per_seed)
    return per_seed, tidy(config, per_seed, nulls, len(expected)), missing


def tidy(config: dict, per_seed: pd.DataFrame, nulls: dict, n_expected: int) -> pd.DataFrame:
    """Mean and std over seeds per (case, diameter, split), with the null predictor beside it."""
    rows = []
    for case_name, case in cases(config).items():
        for setting in case_settings(case_name, case):
            sel = (per_seed[(per_seed["case"] == case_name) & (per_seed["diameter"] == setting.diameter)]
                   if len(per_seed) else per_seed)
            null = nulls.get(setting.sample) or {}
            for split in SPLITS:
                values = sel[split].to_numpy(dtype=float) if len(sel) else np.array([])
                b = null.get(split, np.nan)
                mean = float(values.mean()) if len(values) else np.nan
                rows.append({
                    "case": case_name, "channels": setting.channels, "sample": setting.sample,
                    "mask": case["mask"], "diameter": setting.diameter,
                    "shuffled_labels": setting.shuffled_labels, "split": split,
                    "scatter_mean": mean,
                    "scatter_std": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
                    "n_seeds": int(len(values)), "n_seeds_expected": n_expected,
                    "complete": bool(len(values) == n_expected),
                    "null_scatter": b,
                    "predictive_power": float(predictive_power(b, mean)),
                    "relative_error_pct": float(relative_error(b, mean)),
                })
    # Null predictor rows, one per sample, so a table alone draws the dashed line / null bar.
    for sample, null in sorted(nulls.items()):
        for split in SPLITS:
            b = (null or {}).get(split, np.nan)
            rows.append({"case": "null_predictor", "channels": "", "sample": sample, "mask": "none",
                         "diameter": 0, "shuffled_labels": False, "split": split,
                         "scatter_mean": b, "scatter_std": 0.0, "n_seeds": 1 if null else 0,
                         "n_seeds_expected": 1, "complete": bool(null), "null_scatter": b,
                         "predictive_power": 0.0, "relative_error_pct": 100.0})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def write_tables(config: dict, table_path, per_seed_path) -> pd.DataFrame:
    """Write the tidy table and the per-seed table; log what is missing."""
    import logging

    from .atomic import atomic_path

    log = logging.getLogger(__name__)
    per_seed, table, missing = collect(config)
    for path in missing:
        log.warning("missing run: %s", path)
    incomplete = table[~table["complete"]]
    if len(incomplete):
        log.warning("%d rows have fewer seeds than asked; they are marked complete=False",
                    len(incomplete))
    with atomic_path(per_seed_path) as tmp:
        per_seed.to_csv(tmp, index=False)
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5g")
    log.info("scatter table: %d rows, %d runs, %d missing", len(table), len(per_seed), len(missing))
    return table
