"""Samples and the fixed train / validation / test split (docs/method.md, "Splits and augmentation").

``split_rows`` is the one place that turns the dataset's clusters into the rows of each split;
training, the null predictor and the overlap report all call it.
"""

from __future__ import annotations

import logging
import random

import numpy as np
import pandas as pd

from clusterage.grid import SplitSpec

from . import overlap, reference

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


def sample_indices(log_age: np.ndarray, min_log_age: float | None = None,
                   max_log_age: float | None = None) -> np.ndarray:
    """Indices of the clusters in an inclusive log-age range (``no_extremes``: 7.0..9.5)."""
    keep = np.ones(len(log_age), dtype=bool)
    if min_log_age is not None:
        keep &= log_age >= min_log_age
    if max_log_age is not None:
        keep &= log_age <= max_log_age
    return np.flatnonzero(keep)


def split_indices(n: int, seed: int = 42, fractions=(0.70, 0.15, 0.15)) -> dict[str, np.ndarray]:
    """Positions 0..n-1 assigned to train / validation / test.

    Python's ``random.shuffle`` of ``range(n)`` with one fixed seed, as the authors did: every
    model of a case sees the same split, and the reference null scatters of docs/method.md are
    reproduced exactly. The cuts fall at ``int(f_train n)`` and ``int((f_train + f_val) n)``
    (cumulative fractions), which is what reproduces the reference validation scatter 1.0721.
    """
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or np.any(f <= 0) or not np.isclose(f.sum(), 1.0):
        raise ValueError(f"split.fractions must be three positive numbers summing to 1, got {list(fractions)}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    cut_train = int(f[0] * n)
    cut_val = int((f[0] + f[1]) * n)
    order = np.asarray(order, dtype=np.int64)
    return {
        "train": order[:cut_train],
        "validation": order[cut_train:cut_val],
        "test": order[cut_val:],
    }


def split_rows(clusters: pd.DataFrame, spec: SplitSpec | None = None, sample_range: dict | None = None,
               cutout_size: int = 112) -> dict[str, np.ndarray]:
    """Dataset rows of the train, validation and test clusters of one sample.

    ``clusters`` is the dataset's cluster table (galaxy, cluster_id, log_age, x, y), row i for
    dataset row i; the sample is the inclusive log-age range of ``sample_range``.

    - group ``none``, order ``catalog``: the seeded shuffle of the sample's rows in dataset order.
    - group ``none``, order ``paper``: each cluster of the paper's sample falls where the authors
      put it: their seeded shuffle of their rows (phangs_reference_ages.csv, in its order and
      sample), whatever the dataset's row order; clusters outside it follow ``unlisted``.
    - group ``overlap``: clusters whose cutouts share pixels stay together (``overlap.py``).
    - group ``galaxy``: ``test_galaxies`` are the test set; the others are split as ``overlap``.
    """
    spec = spec or SplitSpec()
    sample_range = sample_range or {}
    lo, hi = sample_range.get("min_log_age"), sample_range.get("max_log_age")
    log_age = clusters["log_age"].to_numpy(dtype=float)
    in_sample = sample_indices(log_age, lo, hi)
    if spec.group != "none":
        return _grouped(clusters, in_sample, spec, cutout_size)
    if spec.order == "paper":
        return _paper(clusters, in_sample, spec, lo, hi)
    pos = split_indices(len(in_sample), spec.seed, spec.fractions)
    return {name: in_sample[pos[name]] for name in SPLITS}


def split_labels(n_rows: int, rows: dict[str, np.ndarray]) -> np.ndarray:
    """'train', 'validation', 'test' or '' (not in the sample) per dataset row."""
    out = np.full(n_rows, "", dtype=object)
    for name in SPLITS:
        out[rows[name]] = name
    return out


def _ids(clusters: pd.DataFrame, rows: np.ndarray, k: int = 5) -> str:
    sel = clusters.iloc[rows[:k]]
    return ", ".join(f"{g} {i}" for g, i in zip(sel["galaxy"], sel["cluster_id"]))


def _paper(clusters, in_sample, spec: SplitSpec, lo, hi) -> dict[str, np.ndarray]:
    ref = reference.table()
    ref_sample = sample_indices(ref["log_age"].to_numpy(float), lo, hi)   # reference rows
    ref_split = np.full(len(ref), -1)
    pos = split_indices(len(ref_sample), spec.seed, spec.fractions)
    for k, name in enumerate(SPLITS):
        ref_split[ref_sample[pos[name]]] = k

    ref_row = reference.rows_of(clusters.iloc[in_sample])
    listed = (ref_row >= 0) & (ref_split[np.maximum(ref_row, 0)] >= 0)
    # Dataset rows of each reference row (in the authors' shuffled order), where present.
    row_of_ref = np.full(len(ref), -1)
    row_of_ref[ref_row[listed]] = in_sample[listed]
    out = {name: row_of_ref[ref_sample[pos[name]]] for name in SPLITS}
    out = {name: rows[rows >= 0] for name, rows in out.items()}

    missing = len(ref_sample) - int(listed.sum())
    if missing:
        log.info("split.order 'paper': %d of the paper's %d clusters in this sample are not in "
                 "the dataset", missing, len(ref_sample))
    unlisted = in_sample[~listed]
    if len(unlisted):
        msg = (f"split.order 'paper': {len(unlisted)} cluster(s) of this sample are not in the "
               f"paper's sample ({reference.FILE}, log-age range {lo}..{hi}), e.g. "
               f"{_ids(clusters, unlisted)}")
        if spec.unlisted == "stop":
            raise ValueError(f"{msg}; set split.unlisted: append to split them after the paper's, "
                             f"or split.order: catalog")
        log.warning("%s; split.unlisted 'append': they are split among themselves with seed %d "
                    "and fractions %s", msg, spec.seed, list(spec.fractions))
        extra = split_indices(len(unlisted), spec.seed, spec.fractions)
        out = {name: np.concatenate([out[name], unlisted[extra[name]]]) for name in SPLITS}
    return out


def _grouped(clusters, in_sample, spec: SplitSpec, size: int) -> dict[str, np.ndarray]:
    sub = clusters.iloc[in_sample]
    # Canonical order (galaxy name, cluster id): the split does not depend on the config's
    # galaxy order nor on the dataset's row order.
    canon = np.lexsort((sub["cluster_id"].to_numpy(), sub["galaxy"].astype(str).to_numpy()))
    rows = in_sample[canon]
    sub = clusters.iloc[rows]
    i, j = overlap.pairs(sub, size)
    label = overlap.components(len(rows), i, j)     # smallest canonical position of each group
    f = np.asarray(spec.fractions, dtype=float)
    out = {name: np.empty(0, np.int64) for name in SPLITS}
    eligible = np.ones(len(rows), bool)
    if spec.group == "galaxy":
        galaxy = sub["galaxy"].astype(str).to_numpy()
        held = np.isin(galaxy, list(spec.test_galaxies))
        if not held.any():
            raise ValueError(f"split.test_galaxies {list(spec.test_galaxies)}: no cluster of this "
                             f"sample is in them")
        if held.all():
            raise ValueError(f"split.test_galaxies {list(spec.test_galaxies)} hold every cluster of "
                             f"this sample; nothing is left to train on")
        out["test"] = rows[held]
        eligible = ~held
        f = np.array([f[0], f[1], 0.0]) / (f[0] + f[1])
    units, unit_of = np.unique(label[eligible], return_inverse=True)
    sizes = np.bincount(unit_of)
    which = _assign(sizes, f, spec.seed)
    elig_rows = rows[eligible]
    for k, name in enumerate(SPLITS):
        if f[k] > 0:
            out[name] = elig_rows[which[unit_of] == k]
    n = sum(len(v) for v in out.values())
    got = [len(out[name]) / n for name in SPLITS]
    log.info("split.group %r: %d clusters in %d groups of overlapping cutouts (largest %d); "
             "fractions train %.3f, validation %.3f, test %.3f (asked %s)", spec.group, len(rows),
             len(np.unique(label)), int(np.bincount(label).max()), *got, list(spec.fractions))
    return out


def _assign(sizes: np.ndarray, fractions: np.ndarray, seed: int) -> np.ndarray:
    """Split index of each unit: units in seeded random order, each to the split furthest below
    its target count, so the achieved fractions come as close as the unit sizes allow."""
    order = list(range(len(sizes)))
    random.Random(seed).shuffle(order)
    target = fractions * sizes.sum()
    count = np.zeros(3)
    which = np.empty(len(sizes), np.int64)
    for u in order:                          # one step per group: O(N), not O(N^2)
        k = int(np.argmax(np.where(fractions > 0, target - count, -np.inf)))
        which[u] = k
        count[k] += sizes[u]
    return which


def overlap_report(clusters: pd.DataFrame, spec: SplitSpec, sample_range: dict | None = None,
                   cutout_size: int = 112) -> pd.DataFrame:
    """Per galaxy: test clusters, and how many of them share pixels with a training cutout,
    under each grouping (``none``, ``overlap`` and, with test galaxies named, ``galaxy``).

    The other split settings (seed, fractions, order) are those of ``spec``. The last row,
    ``all``, sums the galaxies.
    """
    groups = ["none", "overlap"] + (["galaxy"] if spec.test_galaxies else [])
    galaxy = clusters["galaxy"].astype(str).to_numpy()
    names = list(dict.fromkeys(galaxy))
    table = pd.DataFrame({"galaxy": names})
    for group in groups:
        rows = split_rows(clusters, spec.with_group(group), sample_range, cutout_size)
        labels = split_labels(len(clusters), rows)
        hit = overlap.overlapping_train(clusters, labels, cutout_size)
        is_test = labels == "test"
        table[f"test_{group}"] = [int((is_test & (galaxy == g)).sum()) for g in names]
        table[f"test_overlapping_train_{group}"] = [int((hit & (galaxy == g)).sum()) for g in names]
    total = table.drop(columns="galaxy").sum()
    return pd.concat([table, pd.DataFrame([{"galaxy": "all", **total.to_dict()}])], ignore_index=True)


def fold_rows(rows: dict[str, np.ndarray], clusters: pd.DataFrame, spec: SplitSpec,
              cutout_size: int = 112, folds: int = 5, fold: int = 0) -> dict[str, np.ndarray]:
    """Cross-validation over a split: every cluster of the sample in exactly one fold's test set.

    ``rows``: the split of ``split_rows``. Its clusters, in the split's own order (train, then
    validation, then test: for the plain split the seeded shuffle), are cut into ``folds`` nearly
    equal consecutive chunks; fold ``fold`` tests on its chunk. The rest, read on cyclically
    from the end of that chunk, is cut into validation and train in the split's
    validation-to-train ratio. With a grouped split (``split.group`` overlap or galaxy) clusters
    whose cutouts share pixels stay together, in one chunk and one part, so no test cutout shares
    pixels with a training cutout; folds do not hold out whole galaxies.
    """
    if int(folds) != folds or folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {folds}")
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} is not one of the {folds} folds 0..{folds - 1}")
    order = np.concatenate([np.asarray(rows[name], np.int64) for name in SPLITS])
    n = len(order)
    if spec.group != "none":
        # Members of a group move next to its first member (components label = smallest position).
        label = overlap.components(n, *overlap.pairs(clusters.iloc[order], cutout_size))
        keep = np.argsort(label, kind="stable")
        order, label = order[keep], label[keep]
    else:
        label = np.arange(n)
    starts = np.flatnonzero(np.r_[True, label[1:] != label[:-1]])   # where a group begins
    cuts = np.r_[starts, n]

    def snap(target):
        return int(cuts[np.argmin(np.abs(cuts - target))])

    lo, hi = snap(fold * n / folds), snap((fold + 1) * n / folds)
    rest = np.concatenate([order[hi:], order[:lo]])
    rest_cuts = np.r_[[c - hi for c in cuts if hi <= c <= n], [n - hi + c for c in cuts if 0 < c <= lo]]
    f = np.asarray(spec.fractions, dtype=float)
    want = f[1] / (f[0] + f[1]) * len(rest)
    n_val = int(rest_cuts[np.argmin(np.abs(rest_cuts - want))]) if len(rest_cuts) else 0
    return {"train": rest[n_val:], "validation": rest[:n_val], "test": order[lo:hi]}
