"""The packed dataset: one HDF5 file with every cutout and its cluster table.

Schema (docs/dataset.md):
- ``images``: float32 ``(N, size, size, 5)``, channels-last NUV, U, B, V, I, contiguous and
  uncompressed so a training job reads the rows of its sample directly (``read_rows``);
- ``clusters/<column>``: one 1-D dataset per column of the cluster table (galaxy, cluster_id,
  log_age, x, y, ra, dec, cluster_class, distance_mpc);
- attributes: bands, filters per galaxy, pixel scale, cutout size, data source, software version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from . import __version__
from .atomic import atomic_path
from .galaxies import BANDS, PIXEL_SCALE_ARCSEC

COLUMNS = ("galaxy", "cluster_id", "log_age", "x", "y", "ra", "dec", "cluster_class", "distance_mpc")
SCHEMA_VERSION = 1


def write(path: str | Path, images: np.ndarray, clusters: pd.DataFrame, *, source: str,
          filters: dict[str, list[str]], extra_attrs: dict | None = None) -> None:
    """Write atomically; ``filters`` maps each galaxy to its 5 filter names."""
    images = np.ascontiguousarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != len(BANDS) or images.shape[0] != len(clusters):
        raise ValueError(f"images of shape {images.shape} do not match {len(clusters)} clusters x 5 bands")
    missing = [c for c in COLUMNS if c not in clusters.columns]
    if missing:
        raise ValueError(f"cluster table lacks column(s) {missing}")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("images", data=images)  # contiguous, uncompressed: read whole, fast
            grp = f.create_group("clusters")
            for col in COLUMNS:
                values = clusters[col].to_numpy()
                if col == "galaxy":
                    values = values.astype("S")
                grp.create_dataset(col, data=values)
            f.attrs.update({
                "schema_version": SCHEMA_VERSION,
                "bands": list(BANDS),
                "filters": json.dumps(filters),
                "pixel_scale_arcsec": PIXEL_SCALE_ARCSEC,
                "cutout_size": images.shape[1],
                "cluster_pixel": [images.shape[1] // 2, images.shape[2] // 2],
                "units": "ELECTRONS/S",
                "data_source": source,
                "software_version": f"clusterage {__version__}",
                "content_sha256": content_checksum(images, clusters),
            })
            for key, value in (extra_attrs or {}).items():
                f.attrs[key] = value


def read_clusters(path: str | Path) -> pd.DataFrame:
    with h5py.File(path, "r") as f:
        return _clusters(f, path)


def _clusters(f: h5py.File, path) -> pd.DataFrame:
    if "clusters" not in f or "images" not in f:
        raise ValueError(f"{path} is not a clusterage dataset (needs 'images' and 'clusters')")
    data = {}
    for col in COLUMNS:
        if col not in f["clusters"]:
            raise ValueError(f"{path}: clusters table lacks column {col!r}")
        values = f["clusters"][col][()]
        data[col] = values.astype(str) if col == "galaxy" else values
    return pd.DataFrame(data)


def read(path: str | Path) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """Images, cluster table and attributes; the images are read whole in one call."""
    with h5py.File(path, "r") as f:
        clusters = _clusters(f, path)
        images = f["images"][()]
        attrs = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in f.attrs.items()}
    return images, clusters, attrs


def read_rows(path: str | Path, rows) -> np.ndarray:
    """The images of the given rows (increasing), one read per run of consecutive rows.

    A job that needs a sample of the clusters reads only those cutouts, not the whole file.
    """
    rows = np.asarray(rows, dtype=np.int64)
    with h5py.File(path, "r") as f:
        if "images" not in f:
            raise ValueError(f"{path} has no 'images' dataset")
        images = f["images"]
        if rows.size and (rows[0] < 0 or rows[-1] >= images.shape[0] or np.any(np.diff(rows) <= 0)):
            raise ValueError(f"{path}: rows must be increasing and within 0..{images.shape[0] - 1}")
        out = np.empty((rows.size, *images.shape[1:]), dtype=images.dtype)
        starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)  # where each run of rows begins
        for start, stop in zip(starts, [*starts[1:], rows.size]):
            first = int(rows[start])
            images.read_direct(out, np.s_[first:first + (stop - start)], np.s_[start:stop])
    return out


def read_attrs(path: str | Path) -> dict:
    with h5py.File(path, "r") as f:
        return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in f.attrs.items()}


def content_checksum(images: np.ndarray, clusters: pd.DataFrame) -> str:
    """sha256 of the pixels and labels, stored at packing time so jobs need not re-hash."""
    h = hashlib.sha256(memoryview(np.ascontiguousarray(images)).cast("B"))
    h.update(pd.util.hash_pandas_object(clusters[list(COLUMNS)], index=False).to_numpy().tobytes())
    return h.hexdigest()
