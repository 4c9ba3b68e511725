"""The paper's sample: the authors' 8651 (galaxy, cluster id, log age) rows, in their order.

``data/phangs_reference_ages.csv`` holds them in the order of the authors' arrays (provenance:
``data/PROVENANCE.md``). Its galaxy names are the authors' (``NGC_628C``); the dataset's are MAST
target names (``ngc628c``), matched through ``galaxies.GalaxyInfo.reference_label``.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import pandas as pd

from clusterage.galaxies import TABLE1

FILE = "phangs_reference_ages.csv"


@functools.cache
def _table() -> pd.DataFrame:
    with (resources.files("clusterage") / "data" / FILE).open() as fh:
        t = pd.read_csv(fh)
    if not np.array_equal(t["row"].to_numpy(), np.arange(len(t))):
        raise ValueError(f"{FILE}: column 'row' is not 0..{len(t) - 1} in file order")
    label_to_key = {info.reference_label: key for key, info in TABLE1.items()}
    unknown = sorted(set(t["galaxy"]) - set(label_to_key))
    if unknown:
        raise ValueError(f"{FILE}: galaxy name(s) {unknown} are not in galaxies.TABLE1")
    t["key"] = t["galaxy"].map(label_to_key)
    dup = t[t.duplicated(["key", "cluster_id"])]
    if len(dup):
        raise ValueError(f"{FILE}: (galaxy, cluster_id) repeated, e.g. row {int(dup['row'].iloc[0])}")
    return t


def table() -> pd.DataFrame:
    """The reference rows in the authors' order: row, cluster_id, galaxy (authors' name),
    log_age and key (MAST target name)."""
    return _table().copy()


def log_ages(galaxy: str | None = None) -> np.ndarray:
    """The reference labels of one galaxy (MAST target name) in file order; None: all."""
    t = _table()
    if galaxy is None:
        return t["log_age"].to_numpy(float)
    ages = t.loc[t["key"] == galaxy, "log_age"].to_numpy(float)
    if ages.size == 0:
        raise ValueError(f"{FILE}: no clusters for galaxy {galaxy!r}")
    return ages


def cluster_ids(galaxy: str) -> np.ndarray:
    """The reference cluster ids of one galaxy, in file order (aligned with ``log_ages``)."""
    return _table().loc[lambda t: t["key"] == galaxy, "cluster_id"].to_numpy(np.int64)


def rows_of(clusters: pd.DataFrame) -> np.ndarray:
    """Reference row of each dataset cluster (``galaxy``, ``cluster_id``); -1 if not in it."""
    t = _table()
    key = pd.MultiIndex.from_arrays([t["key"].to_numpy(), t["cluster_id"].to_numpy(np.int64)])
    probe = pd.MultiIndex.from_arrays([clusters["galaxy"].astype(str).to_numpy(),
                                       clusters["cluster_id"].to_numpy(np.int64)])
    return key.get_indexer(probe).astype(np.int64)
