"""Views of the packed dataset that a training job reads instead of the whole file.

The ``white_light`` view holds, per cluster, the mean of the five raw filters (the white-light
input of method.md, computed before any normalisation) as one channel: a fifth of the packed
dataset's pixels. It is made once per dataset, so the white-light trainings each read one
channel of their sample's rows instead of five channels of every row.

A view keeps the packed dataset's schema (``images`` with one channel, the ``clusters`` table,
the attributes, ``content_sha256`` included: it identifies the data the view was made from) and
adds the attribute ``view = "white_light"``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np

from clusterage.atomic import atomic_path

from . import dataset, inputs

log = logging.getLogger(__name__)

WHITE_LIGHT = "white_light"


def write_white_light(source: str | Path, path: str | Path, chunk_rows: int = 256) -> None:
    """Write the white-light view of the packed dataset ``source`` to ``path`` (atomically).

    The mean is ``inputs.select_channels`` itself, applied to chunks of whole cutouts, so each
    pixel is the same float32 number that a job computing it from the five filters gets.
    """
    with h5py.File(source, "r") as src:
        if "images" not in src or "clusters" not in src:
            raise ValueError(f"{source} is not a clusterage dataset (needs 'images' and 'clusters')")
        if src.attrs.get("view"):
            raise ValueError(f"{source} is already a {src.attrs['view']} view, not the packed dataset")
        images = src["images"]
        n, height, width, bands = images.shape
        if bands != 5:
            raise ValueError(f"{source}: images have {bands} channels, expected the 5 filters")
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as out:
                view = out.create_dataset("images", shape=(n, height, width, 1), dtype=np.float32)
                for start in range(0, n, chunk_rows):
                    stop = min(start + chunk_rows, n)
                    view[start:stop] = inputs.select_channels(images[start:stop], WHITE_LIGHT)
                src.copy(src["clusters"], out, "clusters")
                out.attrs.update(dict(src.attrs))
                out.attrs["view"] = WHITE_LIGHT
    log.info("%s: white-light view of %d cutouts (%d x %d, 1 channel), %.1f MB",
             path, n, height, width, Path(path).stat().st_size / 1e6)


def read_input(path: str | Path, channels: str, rows) -> np.ndarray:
    """The ``channels`` of the given rows (increasing) from the packed dataset or a view of it.

    From the white-light view, one channel per row is read; from the packed dataset, the five
    filters of these rows are read and (for ``white_light``) averaged here.
    """
    view = dataset.read_attrs(path).get("view")
    if view is None:
        return inputs.select_channels(dataset.read_rows(path, rows), channels)
    if view != channels:
        raise ValueError(f"{path} is the {view} view of the dataset; a {channels} model needs "
                         f"{'the packed dataset' if channels == 'five_band' else 'its ' + channels + ' view'}")
    return dataset.read_rows(path, rows)
