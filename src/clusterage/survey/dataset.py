"""The packed dataset: one HDF5 file with every cutout and its cluster table.

Schema (docs/dataset.md):
- ``images``: float32 ``(N, size, size, 5)``, channels-last NUV, U, B, V, I, contiguous and
  uncompressed so a training job reads the rows of its sample directly (``read_rows``);
- ``clusters/<column>``: one 1-D dataset per column of the cluster table (galaxy, cluster_id,
  log_age, x, y, ra, dec, cluster_class, distance_mpc);
- attributes: bands, filters per galaxy, pixel scale, cutout size, data source, software version,
  and ``built_from``, the config keys that decide what the dataset holds (function ``built_from``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from clusterage import __version__
from clusterage.atomic import atomic_path
from clusterage.galaxies import BANDS, PIXEL_SCALE_ARCSEC

COLUMNS = ("galaxy", "cluster_id", "log_age", "x", "y", "ra", "dec", "cluster_class", "distance_mpc")
SCHEMA_VERSION = 1


def write(path: str | Path, images: np.ndarray, clusters: pd.DataFrame, *, source: str,
          filters: dict[str, list[str]], built_from: dict | None = None,
          extra_attrs: dict | None = None) -> None:
    """Write atomically; ``filters`` maps each galaxy to its 5 filter names, ``built_from`` is
    the config's record (``built_from(config)``) of the dataset packed from it."""
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
            if built_from is not None:
                f.attrs["built_from"] = json.dumps(built_from)
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


def built_from(config: dict) -> dict:
    """The config keys that decide what the dataset holds, flat (``data.source``,
    ``synthetic.seed``, ...): the data source, galaxies and local copy; the per-galaxy files of
    a real survey and the file layout; the simulated survey's settings when it is simulated; the
    catalog cuts and the cutout size."""
    data = config["data"]
    synthetic = data["source"] == "synthetic"
    record = {"data.source": data["source"], "data.galaxies": list(data["galaxies"]),
              "data.local_dir": data["local_dir"]}
    record.update(_flat("data.layout", data["layout"]))
    if not synthetic:  # a simulated galaxy always has the default files
        files = data["galaxy_files"]
        record.update(_flat("data.galaxy_files", {g: files[g] for g in data["galaxies"] if g in files}))
    if synthetic and not data["local_dir"]:
        record.update(_flat("synthetic", config["synthetic"]))
    record.update(_flat("catalog", config["catalog"]))
    record["cutout_size"] = config["cutout_size"]
    return json.loads(json.dumps(record))  # as read back: tuples become lists


def not_built_from(path: str | Path, config: dict) -> str | None:
    """Why the dataset at ``path`` is not the one ``config`` packs (the first config key that
    differs), or None when it is."""
    recorded = read_attrs(path).get("built_from")
    if recorded is None:
        return f"{path} does not record the config it was built from (written by an older clusterage)"
    recorded, wanted = json.loads(recorded), built_from(config)
    for key in dict.fromkeys([*recorded, *wanted]):
        if recorded.get(key) != wanted.get(key):
            return f"{path} was built from {key} {_show(recorded.get(key))}, not {_show(wanted.get(key))}"
    return None


def _flat(prefix: str, value) -> dict:
    if not isinstance(value, dict):
        return {prefix: value}
    return {k: v for key, sub in value.items() for k, v in _flat(f"{prefix}.{key}", sub).items()}


def _show(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, list):
        return "[" + ", ".join(map(_show, value)) + "]"
    return str(value)


def content_checksum(images: np.ndarray, clusters: pd.DataFrame) -> str:
    """sha256 of the pixels and labels, stored at packing time so jobs need not re-hash."""
    h = hashlib.sha256(memoryview(np.ascontiguousarray(images)).cast("B"))
    h.update(pd.util.hash_pandas_object(clusters[list(COLUMNS)], index=False).to_numpy().tobytes())
    return h.hexdigest()
