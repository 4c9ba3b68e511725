"""The comparisons of scatters the findings and figures read, each with its interval
(``tables/differences.csv``).

Every row compares two settings of the test split: ``difference = second - first`` (dex), so a
positive difference means ``first`` scores lower (better). The kinds:

- ``null_predictor``: a setting (first) against its sample's null predictor (second);
- ``control``: a setting against the shuffled-label control of its sample, channels, mask and
  diameter (what "no information" scores with this metric);
- ``mask``: the unmasked model (first) against a masked one of the same channels and sample
  (second): what the mask costs;
- ``colour``: ``five_band`` (first) against ``white_light`` (second) at the same sample, mask
  and diameter: what colour adds.

``interval`` says where the 95% interval of the difference lies: ``above 0`` (first lower),
``below 0`` or ``contains 0``. ``paired`` says whether both sides were scored on the same test
clusters and share each replicate's cluster draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clusterage.grid import Setting
from clusterage.plan import Plan

from .replicates import Replicates, Scored
from .uncertainty import Estimate, resampled

DIFFERENCE_COLUMNS = ["comparison", "sample", "first", "second", "first_setting", "second_setting",
                      "first_scatter", "second_scatter", "difference", "ci_low", "ci_high",
                      "interval", "paired", "resampled", "first_seeds", "second_seeds", "complete"]

WHERE = {1: "above 0", -1: "below 0", 0: "contains 0"}
NULL = "null_predictor"


@dataclass
class Side:
    label: str
    setting: str          # setting name, or "null_predictor/<sample>"
    scatter: float
    scored: Scored | None
    complete: bool


def label(case: str, setting: Setting) -> str:
    """A case and diameter in words, as the tables print them: ``white_light_inner (D = 24 px)``."""
    if setting.mask == "none":
        return case
    return f"{case} (D = {setting.diameter} {setting.unit})"


def sides(grid: Plan, table: pd.DataFrame, reps: Replicates) -> dict[str, Side]:
    """Each setting of the grid (first case naming it) and each sample's null, by setting name."""
    test = table[table["split"] == "test"]
    out: dict[str, Side] = {}
    for case in grid.cases.values():
        case_name = case.name
        rows = test[test["case"] == case_name].set_index("diameter")
        for setting in case.settings:
            if setting.name in out or setting.diameter not in rows.index:
                continue
            row = rows.loc[setting.diameter]
            out[setting.name] = Side(label(case_name, setting), setting.name,
                                     float(row["scatter_mean"]), reps.settings.get(setting.name),
                                     bool(row["complete"]))
    for _, row in test[test["case"] == NULL].iterrows():
        sample = row["sample"]
        out[f"{NULL}/{sample}"] = Side("null predictor", f"{NULL}/{sample}",
                                       float(row["scatter_mean"]), reps.nulls.get(sample), True)
    return out


def compare(first: Side, second: Side, reps: Replicates) -> Estimate | None:
    """The difference ``second - first`` with its interval; None when either side has no runs."""
    a, b = first.scored, second.scored
    if a is None or b is None or not (np.isfinite(first.scatter) and np.isfinite(second.scatter)):
        return None
    return Estimate(second.scatter - first.scatter,
                    *reps.boot.interval(b.replicates - a.replicates))


def _row(kind: str, sample: str, first: Side, second: Side, reps: Replicates) -> dict | None:
    est = compare(first, second, reps)
    if est is None:
        return None
    paired = first.scored.test is second.scored.test
    models = max(first.scored.n_models, second.scored.n_models)
    return {"comparison": kind, "sample": sample, "first": first.label, "second": second.label,
            "first_setting": first.setting, "second_setting": second.setting,
            "first_scatter": first.scatter, "second_scatter": second.scatter,
            "difference": est.value, "ci_low": est.low, "ci_high": est.high,
            "interval": WHERE[est.excludes_zero()], "paired": paired,
            "resampled": resampled(models) if models else "clusters",
            "first_seeds": first.scored.n_models, "second_seeds": second.scored.n_models,
            "complete": first.complete and second.complete}


def pairs(settings: list[Setting]) -> list[tuple[str, Setting, str]]:
    """(kind, setting, the name of what it is compared with) for every comparison of the grid;
    the null is named ``null_predictor/<sample>``."""
    by_name = {s.name: s for s in settings}
    out = []
    for s in settings:
        out.append((NULL, s, f"{NULL}/{s.sample}"))
        control = Setting(s.channels, s.sample, s.mask, s.diameter, True, s.unit)
        if not s.shuffled_labels and control.name in by_name:
            out.append(("control", s, control.name))
        if s.shuffled_labels:
            continue
        if s.mask != "none":
            out.append(("mask", Setting(s.channels, s.sample), s.name))
        if s.channels == "five_band":
            other = Setting("white_light", s.sample, s.mask, s.diameter, False, s.unit)
            if other.name in by_name:
                out.append(("colour", s, other.name))
    return out


def differences(grid: Plan, table: pd.DataFrame, reps: Replicates) -> pd.DataFrame:
    """Every comparison of the grid that has runs on both sides (``tables/differences.csv``)."""
    known = sides(grid, table, reps)
    settings = {s.name: s for case in grid.cases.values() for s in case.settings}
    rows = []
    for kind, first, second in pairs(list(settings.values())):
        a, b = known.get(first.name), known.get(second)
        row = _row(kind, first.sample, a, b, reps) if a and b else None
        if row:
            rows.append(row)
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)
