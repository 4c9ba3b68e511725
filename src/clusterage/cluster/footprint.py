"""What a sweep will cost before it starts: trainings, disk, data read per job, GPU time.

Every size is computed from the config (the grid, the model's layer sizes, keep_models) and the
number of clusters per sample, scaled by the measured numbers below (sources: docs/disk.md and
docs/benchmarks.md). The cluster counts come from the packed dataset when it exists and records
that it was built from the config's survey, else from the paper's labels of the configured
galaxies (the real survey's counts; a synthetic survey's are those times ``synthetic.scale``),
which the coverage cut can only lower.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clusterage import plan
from clusterage.galaxies import BANDS

# --- Measured numbers (one place; docs/disk.md says how each was measured) -----------------------
# Kept weights (model.weights.h5, float32, no optimiser state): 157,615,400 bytes for the paper's
# CNN (39,394,817 parameters): 4 bytes per parameter plus the file's HDF5 structure.
WEIGHTS_BYTES_PER_PARAMETER = 4
WEIGHTS_FILE_OVERHEAD_BYTES = 33_000
# Keras's whole save (model.keras) with Adam's two moments, for comparison: 472,797,042 bytes
# for the paper's CNN (12 bytes per parameter).
FULL_SAVE_BYTES_PER_PARAMETER = 12
# The resume checkpoint of a running job: model.keras with Adam (12 bytes per parameter) plus
# the best weights so far (best.npz, 4): 630 MB for the paper's CNN. Removed when the run ends.
CHECKPOINT_BYTES_PER_PARAMETER = 16
# Per run, besides a model: predictions.csv per cluster of the sample (a row of galaxy, id, split
# and two full-precision log ages), per epoch a history.csv row and a log line, and the fixed
# metrics.json, metadata.json, log lines and benchmark file (tiny workflow run, docs/disk.md).
PREDICTION_BYTES_PER_CLUSTER = 56
EPOCH_BYTES = 200
RUN_FIXED_BYTES = 2_500
# GPU time of one paper training (paper model, five_band, 112 px, batch 32): 200 epochs of
# 24,220 augmented train images (8,651 clusters) on one NVIDIA H100 with JAX (docs/benchmarks.md,
# docs/gpu/h100.json), by precision. Other models and sample sizes are scaled by their FLOPs.
GPU_SECONDS_PAPER_TRAINING = {"mixed_bfloat16": 391.0, "float32": 617.0}
GPU_PAPER_TRAINING_IMAGES = 200 * 24_220
GPU_NAME = "NVIDIA H100, JAX"
PAPER_CNN = dict(conv_filters=(128, 256, 512), dense_units=(512, 256, 128))
# Per explained run (attribution), per test cluster and method (Integrated Gradients, SmoothGrad):
# the cluster's map in float16 (gzip barely shrinks these: 81% of the raw size measured on the
# demo); per test cluster and radial profile (|attribution| of both methods, signed sum of
# Integrated Gradients), a row in maps.h5 (81 float64) and in profiles.csv (~790 bytes measured).
ATTRIBUTION_METHODS = 2
PROFILES_PER_CLUSTER = 3
FLOAT16 = 2
PROFILE_BYTES_PER_CLUSTER = 81 * 8 + 790
# -------------------------------------------------------------------------------------------------

FLOAT32 = 4


def parameter_count(input_shape, conv_filters, dense_units, kernel: int = 3, pool: int = 2) -> int:
    """Parameters of ``model.build_cnn`` (valid 3x3 convolutions, 2x2 pooling, dense layers)."""
    h, w, c = input_shape
    n = 0
    for filters in conv_filters:
        n += (kernel * kernel * c + 1) * filters
        h, w, c = (h - kernel + 1) // pool, (w - kernel + 1) // pool, filters
    features = h * w * c
    for units in (*dense_units, 1):
        n += (features + 1) * units
        features = units
    return n


def forward_flops(input_shape, conv_filters, dense_units, kernel: int = 3, pool: int = 2) -> int:
    """Multiply-adds x 2 of one forward pass, as ``model.forward_flops`` counts them."""
    h, w, c = input_shape
    total = 0
    for filters in conv_filters:
        h, w = h - kernel + 1, w - kernel + 1
        total += 2 * h * w * filters * kernel * kernel * c
        h, w, c = h // pool, w // pool, filters
    features = h * w * c
    for units in (*dense_units, 1):
        total += 2 * features * units
        features = units
    return total


def weights_file_bytes(n_parameters: int) -> int:
    return n_parameters * WEIGHTS_BYTES_PER_PARAMETER + WEIGHTS_FILE_OVERHEAD_BYTES


@dataclass
class Clusters:
    """The clusters a sweep trains on: their log ages, and where the numbers come from."""

    log_age: np.ndarray
    source: str
    exact: bool
    note: str = ""                                             # why a dataset on disk is not used

    def in_sample(self, sample_range: dict) -> int:
        keep_ = np.ones(len(self.log_age), dtype=bool)
        if sample_range.get("min_log_age") is not None:
            keep_ &= self.log_age >= sample_range["min_log_age"]
        if sample_range.get("max_log_age") is not None:
            keep_ &= self.log_age <= sample_range["max_log_age"]
        return int(keep_.sum())


def clusters_from_dataset(path: str | Path) -> Clusters:
    from clusterage.survey.dataset import read_clusters

    log_age = read_clusters(path)["log_age"].to_numpy(dtype=float)
    return Clusters(log_age, f"{path}", exact=True)


def clusters_for(config: dict, path: str | Path) -> Clusters:
    """The clusters of the dataset at ``path`` when it was built from this config's survey, else
    the estimate; ``note`` says why a dataset that exists there is not used."""
    from clusterage.survey.dataset import not_built_from

    if not Path(path).exists():
        return clusters_from_config(config)
    why = not_built_from(path, config)
    if why is None:
        return clusters_from_dataset(path)
    clusters = clusters_from_config(config)
    clusters.note = f"{why}: not used"
    return clusters


def clusters_from_config(config: dict) -> Clusters:
    """The paper's labels of the configured galaxies (times synthetic.scale for a synthetic
    survey; a flat age distribution is drawn on its range)."""
    from clusterage.survey.reference import log_ages as reference_log_ages

    data = config["data"]
    galaxies = data["galaxies"]
    synthetic = data["source"] == "synthetic" and not data["local_dir"]
    syn = config["synthetic"]
    ages = []
    for g in galaxies:
        ref = reference_log_ages(g)
        if not synthetic:
            ages.append(ref)
            continue
        n = max(1, int(round(syn["scale"] * ref.size)))
        if syn["age_distribution"] == "flat":
            lo, hi = syn["flat_log_age_range"]
            ages.append(np.linspace(lo, hi, n))
        else:  # the reference labels' distribution, as the simulation draws them
            ages.append(np.quantile(ref, (np.arange(n) + 0.5) / n) if n != ref.size else ref)
    what = "synthetic survey" if synthetic else "real survey"
    return Clusters(np.concatenate(ages), f"estimated: the paper's labels of the {len(galaxies)} "
                    f"galaxies, {what}; the coverage cut can only lower it", exact=False)


@dataclass
class Footprint:
    trainings: int
    settings: int
    seeds: int
    clusters: Clusters
    cutout_size: int
    dataset_bytes: int
    white_light_bytes: int
    kept_runs: int
    weights_bytes: dict = field(default_factory=dict)        # channels -> one kept weights file
    kept_model_bytes: int = 0
    record_bytes: int = 0
    checkpoint_bytes: int = 0                                  # largest transient per running job
    full_save_bytes: int = 0                                   # what all runs would have kept as model.keras
    attribution_bytes: int = 0                                 # maps and profiles of the explained runs (at most)
    explained_runs: int = 0
    all_weights_bytes: int = 0                                 # every run keeping its weights
    reads: list = field(default_factory=list)                  # (channels, sample, rows, bytes, jobs)
    gpu_seconds: float = 0.0
    gpu_seconds_bf16: float = 0.0                              # the same with mixed_bfloat16
    training_epochs: int = 0                                   # every run to its last epoch
    precisions: tuple = ()

    @property
    def total_bytes(self) -> int:
        return (self.dataset_bytes + self.white_light_bytes + self.kept_model_bytes
                + self.record_bytes + self.attribution_bytes)

    @property
    def read_bytes(self) -> int:
        return sum(r[3] * r[4] for r in self.reads)


def estimate(grid: plan.Plan, clusters: Clusters, cluster_maps: bool) -> Footprint:
    """The footprint of a planned sweep on these clusters (``cluster_maps``: the attribution
    step writes per-cluster maps, config ``attribution.cluster_maps``)."""
    jobs, seeds, size = grid.jobs, grid.seeds, grid.cutout_size
    # Kept by the config's choice, and the explained runs, whose weights the attribution step loads.
    explained, explained_seeds, by_choice = set(grid.explained), grid.explained_seeds, set(grid.kept)

    def kept_seeds(name: str) -> int:
        """How many seeds of a setting keep their weights: all by choice, else the explained ones."""
        if name in by_choice:
            return len(seeds)
        return len(explained_seeds) if name in explained else 0

    n = len(clusters.log_age)
    fractions = grid.split.fractions

    fp = Footprint(trainings=len(jobs) * len(seeds), settings=len(jobs), seeds=len(seeds),
                   clusters=clusters, cutout_size=size,
                   dataset_bytes=n * size * size * len(BANDS) * FLOAT32,
                   white_light_bytes=0, kept_runs=sum(kept_seeds(name) for name in jobs))
    if any(j.setting.channels == "white_light" for j in jobs.values()):
        fp.white_light_bytes = n * size * size * FLOAT32
    reads: Counter = Counter()
    precisions = set()
    paper_flops = forward_flops((size, size, len(BANDS)), **PAPER_CNN)
    for name, job in jobs.items():
        h = job.hyper
        channels = len(BANDS) if job.setting.channels == "five_band" else 1
        shape = (size, size, channels)
        params = parameter_count(shape, h.conv_filters, h.dense_units)
        weights = weights_file_bytes(params)
        fp.weights_bytes[job.setting.channels] = weights
        rows = clusters.in_sample(job.sample_range)
        fp.record_bytes += len(seeds) * (RUN_FIXED_BYTES + rows * PREDICTION_BYTES_PER_CLUSTER
                                         + h.epochs * EPOCH_BYTES)
        fp.kept_model_bytes += kept_seeds(name) * weights
        if name in explained:
            fp.explained_runs += len(explained_seeds)
            fp.attribution_bytes += len(explained_seeds) * attribution_bytes(
                int(round(fractions[2] * rows)), size, channels, cluster_maps)
        fp.all_weights_bytes += len(seeds) * weights
        fp.full_save_bytes += len(seeds) * params * FULL_SAVE_BYTES_PER_PARAMETER
        fp.checkpoint_bytes = max(fp.checkpoint_bytes, params * CHECKPOINT_BYTES_PER_PARAMETER + weights)
        reads[(job.setting.channels, job.setting.sample, rows)] += len(seeds)
        # GPU time: the paper training's measured seconds, scaled by images seen and FLOPs.
        train_images = int(fractions[0] * rows) * h.rotations * (2 if h.flips else 1)
        scale = (h.epochs * train_images / GPU_PAPER_TRAINING_IMAGES) * (
            forward_flops(shape, h.conv_filters, h.dense_units) / paper_flops)
        fp.gpu_seconds += len(seeds) * GPU_SECONDS_PAPER_TRAINING[h.precision] * scale
        fp.gpu_seconds_bf16 += len(seeds) * GPU_SECONDS_PAPER_TRAINING["mixed_bfloat16"] * scale
        fp.training_epochs += len(seeds) * h.epochs
        precisions.add(h.precision)
    fp.precisions = tuple(sorted(precisions))
    for (channels, sample, rows), n_jobs in sorted(reads.items()):
        per_row = size * size * (len(BANDS) if channels == "five_band" else 1) * FLOAT32
        fp.reads.append((channels, sample, rows, rows * per_row, n_jobs))
    return fp


def attribution_bytes(test_clusters: int, size: int, channels: int, cluster_maps: bool = True) -> int:
    """At most what one explained run's attribution writes: every test cluster's maps (float16,
    when ``cluster_maps``), the mean maps by age range (float32) and the profiles."""
    maps = test_clusters * size * size * channels * FLOAT16 if cluster_maps else 0
    means = 3 * size * size * channels * FLOAT32
    return (ATTRIBUTION_METHODS * (maps + means)
            + PROFILES_PER_CLUSTER * test_clusters * PROFILE_BYTES_PER_CLUSTER)


def human(n: float) -> str:
    """Bytes in decimal units (kB, MB, GB, TB), three significant figures."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def report(fp: Footprint, jobs_at_once: int) -> str:
    """The footprint as the lines ``clusterage plan`` prints."""
    c = fp.clusters
    lines = [
        f"trainings: {fp.trainings} ({fp.settings} settings x {fp.seeds} seeds)",
        f"clusters: {len(c.log_age)} ({'in ' if c.exact else ''}{c.source})",
        *([f"  {c.note}"] if c.note else []),
        "",
        "disk when the sweep is done:",
        f"  dataset: cutouts.h5 {human(fp.dataset_bytes)}"
        + (f", white_light.h5 {human(fp.white_light_bytes)}" if fp.white_light_bytes else ""),
        f"  runs: metrics, predictions, history, metadata, logs: {human(fp.record_bytes)}",
        f"  models (keep_models, and the runs attribution explains): {fp.kept_runs} of "
        f"{fp.trainings} runs keep their weights, " + ", ".join(f"{human(b)} each ({ch})" for ch, b in sorted(fp.weights_bytes.items()))
        + f": {human(fp.kept_model_bytes)}",
        f"  attribution maps and profiles of the {fp.explained_runs} explained runs: at most "
        f"{human(fp.attribution_bytes)}",
        f"  total: {human(fp.total_bytes)}  (every run keeping its weights: "
        f"{human(fp.total_bytes - fp.kept_model_bytes + fp.all_weights_bytes)}; "
        f"every run keeping model.keras with the optimiser state: "
        f"{human(fp.total_bytes - fp.kept_model_bytes + fp.full_save_bytes)})",
        "  (not counted: the survey's mosaics and catalogs, downloaded or simulated, and the figures)",
        "",
        f"while it runs: each training job holds up to {human(fp.checkpoint_bytes)} (its resume "
        f"checkpoint with the optimiser state, and its trained weights until they are kept or "
        f"deleted); {jobs_at_once} jobs at once: {human(jobs_at_once * fp.checkpoint_bytes)}",
        "",
        "data each training job reads (its sample's rows, its channels):",
    ]
    for channels, sample, rows, nbytes, n_jobs in fp.reads:
        source = "white_light.h5" if channels == "white_light" else "cutouts.h5"
        lines.append(f"  {channels:<11} {sample:<12} {rows:>6} clusters  {human(nbytes):>9} "
                     f"from {source}  x {n_jobs} jobs")
    lines.append(f"  all jobs together: {human(fp.read_bytes)} (reading the whole dataset each: "
                 f"{human(fp.trainings * fp.dataset_bytes)})")
    lines += ["", f"GPU time: at most {_hours(fp.gpu_seconds)} on an {GPU_NAME} "
              f"({', '.join(fp.precisions)})"
              + (f"; {_hours(fp.gpu_seconds_bf16)} with training.precision: mixed_bfloat16"
                 if fp.precisions != ("mixed_bfloat16",) else ""),
              "  (every run to its last epoch: early stopping only shortens it; scaled by images "
              "and FLOPs from one measured paper training, so only a lower bound for models much "
              "smaller than the paper's, which leave a GPU idle)"]
    return "\n".join(lines)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3g} GPU-hours" if seconds >= 360 else f"{seconds:.2g} GPU-seconds"


def both_ways(from_scratch: Footprint, warm: Footprint) -> str:
    """The sweep's training cost with every model trained from scratch (the paper's way) and with
    the masked models fine-tuned from the unmasked ones (config warm_start)."""
    def cost(fp: Footprint) -> str:
        return (f"{fp.training_epochs:,} training epochs at most, {_hours(fp.gpu_seconds)} on an "
                f"{GPU_NAME} ({_hours(fp.gpu_seconds_bf16)} in mixed_bfloat16)")

    ratio = warm.training_epochs / from_scratch.training_epochs if from_scratch.training_epochs else 1.0
    return "\n".join([
        "training both ways (warm_start, docs/warm-start.md):",
        f"  every model from scratch (the paper's way): {cost(from_scratch)}",
        f"  masked models fine-tuned from the unmasked: {cost(warm)} ({ratio:.0%} of the epochs)"])
