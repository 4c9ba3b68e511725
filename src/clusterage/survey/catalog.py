"""Read a galaxy's PHANGS-HST cluster catalogs (obs + sed tables) into one tidy table."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from clusterage.galaxies import galaxy

from .mast import GalaxyFiles

log = logging.getLogger(__name__)

ID = "ID_PHANGS_CLUSTER"
POSITION_COLUMNS = ("PHANGS_X", "PHANGS_Y")  # 0-based V-band pixel: where a cutout is centred
OBS_COLUMNS = (ID, *POSITION_COLUMNS, "PHANGS_RA", "PHANGS_DEC", "PHANGS_CLUSTER_CLASS_HUMAN")


class CatalogError(ValueError):
    """A catalog that cannot be used as it is; the message names the file and the column."""


def read_table(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"catalog not found: {path}")
    try:
        table = Table.read(path, format="fits")
    except Exception as exc:  # astropy raises several types for corrupt files
        raise CatalogError(f"cannot read catalog {path}: {exc}") from exc
    missing = [c for c in columns if c not in table.colnames]
    if missing:
        raise CatalogError(f"catalog {path} lacks column(s) {', '.join(missing)}")
    return table[list(columns)].to_pandas()


def _finite_positions(cat: pd.DataFrame, target: str) -> np.ndarray:
    """Rows whose pixel position (PHANGS_X, PHANGS_Y) is finite; the others are logged with
    their file, column and cluster ids."""
    good = np.ones(len(cat), dtype=bool)
    for column in POSITION_COLUMNS:
        bad = ~np.isfinite(cat[column].to_numpy(dtype=float))
        good &= ~bad
        for path, rows in cat[bad].groupby("_file", sort=False):
            ids = rows[ID].tolist()
            log.warning("%s: %d clusters dropped: %s is NaN or infinite in %s (%s %s%s)", target,
                        len(ids), column, path, ID, ids[:10], " ..." if len(ids) > 10 else "")
    return good


def read_catalog(files: GalaxyFiles, data_dir: str | Path, classes=(1, 2, 3),
                 age_column: str = "PHANGS_AGE_MINCHISQ") -> tuple[pd.DataFrame, dict]:
    """Join the obs and sed tables of every catalog kind on the cluster id.

    Returns the clusters of the wanted classes with a usable age and a finite pixel position,
    and counts of what was dropped and why (ingest report). Ages are catalog Myr;
    ``log_age = log10(age_myr) + 6``.
    """
    data_dir = Path(data_dir)
    parts = []
    for obs_rel, sed_rel in files.catalog_relpaths():
        obs_path, sed_path = data_dir / obs_rel, data_dir / sed_rel
        obs = read_table(obs_path, OBS_COLUMNS)
        sed = read_table(sed_path, (ID, age_column))
        for path, frame in ((obs_path, obs), (sed_path, sed)):
            dup = frame[ID][frame[ID].duplicated()]
            if len(dup):
                raise CatalogError(f"catalog {path}: duplicate {ID} values, e.g. {dup.iloc[0]}")
        only_obs = np.setdiff1d(obs[ID], sed[ID])
        only_sed = np.setdiff1d(sed[ID], obs[ID])
        if len(only_obs) or len(only_sed):
            raise CatalogError(
                f"catalogs {obs_path.name} and {sed_path.name} disagree on {ID}: "
                f"{len(only_obs)} ids only in obs (e.g. {list(only_obs[:3])}), "
                f"{len(only_sed)} only in sed (e.g. {list(only_sed[:3])})"
            )
        parts.append(obs.merge(sed, on=ID, validate="one_to_one").assign(_file=obs_path))
    cat = pd.concat(parts, ignore_index=True)
    n_catalog = len(cat)

    cat = cat[cat["PHANGS_CLUSTER_CLASS_HUMAN"].isin(list(classes))]
    n_class = len(cat)
    age = cat[age_column].to_numpy(dtype=float)
    good_age = np.isfinite(age) & (age > 0)
    if not good_age.all():
        log.warning("%s: %d clusters with %s <= 0 or NaN dropped", files.target,
                    int((~good_age).sum()), age_column)
    cat = cat[good_age]
    good_position = _finite_positions(cat, files.target)
    cat = cat[good_position]

    info = galaxy(files.target)
    out = pd.DataFrame({
        "galaxy": files.target,
        "cluster_id": cat[ID].to_numpy(dtype=np.int64),
        "log_age": np.log10(cat[age_column].to_numpy(dtype=float)) + 6.0,
        "x": cat["PHANGS_X"].to_numpy(dtype=float),
        "y": cat["PHANGS_Y"].to_numpy(dtype=float),
        "ra": cat["PHANGS_RA"].to_numpy(dtype=float),
        "dec": cat["PHANGS_DEC"].to_numpy(dtype=float),
        "cluster_class": cat["PHANGS_CLUSTER_CLASS_HUMAN"].to_numpy(dtype=np.int16),
        "distance_mpc": info.distance_mpc,
    }).sort_values("cluster_id", ignore_index=True)
    counts = {
        "galaxy": files.target,
        "n_catalog": n_catalog,
        "dropped_class": n_catalog - n_class,
        "dropped_bad_age": int((~good_age).sum()),
        "dropped_bad_position": int((~good_position).sum()),
    }
    return out, counts
