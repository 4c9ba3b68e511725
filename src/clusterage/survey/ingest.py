"""Ingest: catalogs and mosaics of each galaxy -> cutouts -> one packed HDF5 dataset."""

from __future__ import annotations

import json
import logging

import h5py
import numpy as np
import pandas as pd

from clusterage.atomic import atomic_path, write_json
from clusterage.grid import SplitSpec
from clusterage.metrics import null_predictor

from . import dataset
from .catalog import read_catalog
from .cutouts import extract
from .mast import GalaxyFiles
from .splits import SPLITS, overlap_report, split_rows

log = logging.getLogger(__name__)

REPORT_COLUMNS = ["galaxy", "n_catalog", "dropped_class", "dropped_bad_age",
                  "dropped_bad_position", "dropped_edge", "dropped_no_coverage", "n_kept"]


def ingest_galaxy(files: GalaxyFiles, data_dir, out_h5, out_report, *, classes=(1, 2, 3),
                  age_column="PHANGS_AGE_MINCHISQ", size=112, source="synthetic") -> pd.DataFrame:
    """Cut out one galaxy's usable clusters; write them and a one-row report of every drop."""
    clusters, counts = read_catalog(files, data_dir, classes, age_column)
    images, kept, cut_counts = extract(files, data_dir, clusters, size)
    counts.update(cut_counts)
    report = pd.DataFrame([counts], columns=REPORT_COLUMNS)
    dataset.write(out_h5, images, kept, source=source,
                  filters={files.target: list(files.filters)})
    with atomic_path(out_report) as tmp:
        report.to_csv(tmp, index=False)
    return report


def pack(cutout_files, report_files, out_h5, out_report, config: dict | None = None) -> None:
    """Concatenate per-galaxy cutout files into the dataset every training job reads; with the
    workflow's ``config``, the dataset records what it was built from (``dataset.built_from``)."""
    tables, filters, sources = [], {}, set()
    for path in cutout_files:
        with h5py.File(path, "r") as f:
            filters.update(json.loads(f.attrs["filters"]))
            sources.add(str(f.attrs["data_source"]))
        tables.append(dataset.read_clusters(path))
    n = sum(len(t) for t in tables)
    if n == 0:
        raise ValueError("no cluster survived the ingest: see the per-galaxy reports "
                         + ", ".join(map(str, report_files)))
    with h5py.File(cutout_files[0], "r") as f:
        shape = f["images"].shape[1:]
    images = np.empty((n,) + shape, dtype=np.float32)
    start = 0
    for path, table in zip(cutout_files, tables):
        with h5py.File(path, "r") as f:
            f["images"].read_direct(images, dest_sel=np.s_[start:start + len(table)])
        start += len(table)
    clusters = pd.concat(tables, ignore_index=True)
    dataset.write(out_h5, images, clusters, source="+".join(sorted(sources)), filters=filters,
                  built_from=dataset.built_from(config) if config is not None else None)
    report = pd.concat([pd.read_csv(p) for p in report_files], ignore_index=True)
    total = report[REPORT_COLUMNS[1:]].sum()
    report = pd.concat([report, pd.DataFrame([{"galaxy": "all", **total.to_dict()}])],
                       ignore_index=True)
    with atomic_path(out_report) as tmp:
        report.to_csv(tmp, index=False)
    log.info("dataset: %d clusters from %d galaxies, images %s, %.0f MB", n, len(tables),
             images.shape, images.nbytes / 1e6)


def null_predictor_for_sample(dataset_path, out_json, sample_range: dict, split: SplitSpec | None = None,
                              out_overlap=None) -> dict:
    """The null predictor's scatter per split, on the same split every model of the sample uses.

    With ``out_overlap``, also write per galaxy how many test cutouts share pixels with a
    training cutout under each grouping of the split (splits.overlap_report).
    """
    split = split or SplitSpec()
    clusters = dataset.read_clusters(dataset_path)
    with h5py.File(dataset_path, "r") as f:
        size = int(f["images"].shape[1])
    log_age = clusters["log_age"].to_numpy(dtype=float)
    rows = split_rows(clusters, split, sample_range, size)
    result = null_predictor(log_age, rows)
    result["sample_range"] = sample_range
    result["split_settings"] = split.as_dict()
    n = sum(result[f"n_{name}"] for name in SPLITS)
    result["fractions_achieved"] = [result[f"n_{name}"] / n for name in SPLITS]
    write_json(out_json, result)
    log.info("null predictor: train mean %.4f; scatter train %.4f, validation %.4f, test %.4f",
             result["train_mean_log_age"], result["train"], result["validation"], result["test"])
    if out_overlap is not None:
        report = overlap_report(clusters, split, sample_range, size)
        with atomic_path(out_overlap) as tmp:
            report.to_csv(tmp, index=False)
        log.info("test cutouts sharing pixels with a training cutout, per galaxy:\n%s",
                 report.to_string(index=False))
    return result
