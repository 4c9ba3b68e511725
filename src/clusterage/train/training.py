"""Train one model of one experiment setting with one seed, and score it.

Resumable: the full training state is saved at the end of epochs to a checkpoint folder
(checkpoint.py), and each epoch's batch order is drawn from (seed, epoch) alone. A job killed by
Slurm (preemption, time limit, kill -9) and started again continues from the last saved epoch
and ends exactly where an uninterrupted run would.
"""

from __future__ import annotations

import logging
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clusterage import __version__
from clusterage.atomic import atomic_path, write_json
from clusterage.galaxies import diameter_pixels
from clusterage.grid import Hyper, Setting, SplitSpec
from clusterage.metrics import scatter
from clusterage.survey import dataset, inputs, views
from clusterage.survey.splits import SPLITS, fold_rows, split_rows

from . import checkpoint, device, warm_start
from .fitloop import EpochRunner, epoch_order

log = logging.getLogger(__name__)


@dataclass
class SplitData:
    x: dict = field(default_factory=dict)
    y: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)   # row numbers in the dataset


def sample_split(clusters, setting: Setting, sample_range: dict, split: SplitSpec,
                 cutout_size: int, fold=None) -> dict[str, np.ndarray]:
    """Dataset rows of the train, validation and test clusters of the setting's sample.

    ``fold`` = (f, k): fold f of a k-fold cross-validation over the split (splits.fold_rows)
    instead of the split itself.
    """
    rows = split_rows(clusters, split, sample_range, cutout_size)
    if fold is not None:
        rows = fold_rows(rows, clusters, split, cutout_size, folds=fold[1], fold=fold[0])
    n_sample = sum(len(r) for r in rows.values())
    if n_sample < 10:
        raise ValueError(f"sample {setting.sample!r} holds only {n_sample} clusters; need at least 10")
    return rows


def prepare_splits(images, clusters, setting: Setting, sample_range: dict, hyper: Hyper,
                   split: SplitSpec, seed: int, fold=None) -> SplitData:
    """Sample, split, build the network input and (for the control) shuffle labels, from the
    whole raw 5-filter stack in memory."""
    rows = sample_split(clusters, setting, sample_range, split, images.shape[1], fold)
    in_sample = np.sort(np.concatenate([rows[name] for name in SPLITS]))
    x_sample = inputs.select_channels(images[in_sample], setting.channels)
    return split_inputs(x_sample, in_sample, rows, clusters, setting, hyper, seed)


def split_inputs(x_sample, in_sample, rows: dict, clusters, setting: Setting, hyper: Hyper,
                 seed: int) -> SplitData:
    """``x_sample``: the setting's channels of the rows ``in_sample`` (increasing), in that
    order; ``rows``: the dataset rows of each split."""
    log_age = clusters["log_age"].to_numpy(dtype=np.float64)
    galaxy = clusters["galaxy"].astype(str).to_numpy()
    if setting.unit == "pc":
        # One diameter in parsecs: each cluster's mask in pixels from its galaxy's distance.
        for g in sorted(set(galaxy[in_sample])):
            log.info("%s: %g pc is %.1f pixels in %s", setting.occlusion, setting.diameter,
                     diameter_pixels(setting.diameter, [g])[0], g)
    out = SplitData()
    rng = np.random.default_rng([seed, 7919])
    for name in SPLITS:
        y = log_age[rows[name]]
        if setting.shuffled_labels and name in ("train", "validation"):
            y = rng.permutation(y)
        diameter = (diameter_pixels(setting.diameter, galaxy[rows[name]]) if setting.unit == "pc"
                    else setting.diameter)
        x = x_sample[np.searchsorted(in_sample, rows[name])]
        out.x[name] = inputs.mask_and_normalise(x, setting.mask, diameter, hyper.normalisation)
        out.y[name] = y
        out.rows[name] = rows[name]
    return out


@dataclass(frozen=True)
class _Job:
    """What one call of ``train`` trains."""

    setting: Setting
    seed: int
    hyper: Hyper
    split: SplitSpec
    sample_range: dict
    fold: tuple | None


@dataclass
class _Loaded:
    """The dataset's table and attributes, each split's network input, and the image bytes read."""

    clusters: pd.DataFrame
    attrs: dict
    data: SplitData
    bytes_read: int


@dataclass(frozen=True)
class _TargetScale:
    """Targets min-max scaled with the TRAIN set's range, as the authors' code did."""

    lo: float
    hi: float

    @classmethod
    def of(cls, y_train: np.ndarray) -> "_TargetScale":
        return cls(float(y_train.min()), float(y_train.max()))

    @property
    def span(self) -> float:
        return (self.hi - self.lo) or 1.0

    def scale(self, y):
        return ((y - self.lo) / self.span).astype(np.float32)

    def unscale(self, pred):
        return pred * self.span + self.lo


def _versions() -> dict:
    import keras

    out = {"python": platform.python_version(), "numpy": np.__version__, "keras": keras.__version__,
           "backend": keras.backend.backend(), "clusterage": __version__}
    try:
        mod = __import__({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[out["backend"]])
        out[out["backend"]] = mod.__version__
    except Exception:  # a backend without a version attribute is not worth failing a run
        pass
    return out


def train(dataset_path: str | Path, out_dir: str | Path, setting: Setting, *, seed: int,
          sample_range: dict | None = None, hyper: Hyper | None = None,
          split: SplitSpec | None = None, checkpoint_dir: str | Path | None = None,
          checkpoint_interval_s: float = 0.0, weights_path: str | Path | None = None,
          gpu_resource=0, allow_cpu_fallback: bool = False, fold=None,
          start_weights: str | Path | None = None) -> dict:
    """Train, score and write metrics.json, predictions.csv, history.csv, metadata.json and the
    trained weights (no optimiser state) to ``weights_path`` (default out_dir/model.weights.h5).
    ``fold`` = (f, k) trains fold f of a k-fold cross-validation instead of the fixed split.
    ``start_weights``: the kept weights of the finished unmasked model of the same sample,
    channels, seed, split and dataset, which a masked training then fine-tunes (warm_start.py;
    anything else is refused); None trains from scratch.

    ``dataset_path`` is the packed dataset or, for a white_light setting, its white-light view
    (views.py); only the rows of the setting's sample are read. Stops at once
    (``device.DeviceError``) when the job was given a GPU (``gpu_resource`` or Slurm's variables)
    that the Keras backend does not see, unless ``allow_cpu_fallback``.
    """
    job = _Job(setting, seed, hyper or Hyper(), split or SplitSpec(), sample_range or {}, fold)
    compute = device.check(job.hyper.precision, gpu_resource=gpu_resource,
                           allow_cpu_fallback=allow_cpu_fallback)
    out_dir = Path(out_dir)
    ckpt = Path(checkpoint_dir) if checkpoint_dir else out_dir / "checkpoint"
    weights_path = Path(weights_path) if weights_path else out_dir / "model.weights.h5"
    t_start = time.perf_counter()

    loaded = _load(dataset_path, job)
    data = loaded.data
    x_train, y_train = inputs.augment(data.x["train"], data.y["train"], job.hyper.rotations,
                                      job.hyper.flips)
    target = _TargetScale.of(data.y["train"])
    _log_sizes(job, data, x_train)

    model = _build_model(x_train.shape[1:], job.hyper, seed)
    started_from = _warm_start(model, start_weights, job, loaded) if start_weights else None
    identity = _identity(job, x_train) | ({"started_from": started_from} if started_from else {})
    state, best_weights = _resume(ckpt, identity, model)
    # The arrays become backend tensors once; each epoch is one compiled call (fitloop.py).
    runner = EpochRunner(model, x_train, target.scale(y_train), data.x["validation"],
                         target.scale(data.y["validation"]), job.hyper.batch_size)
    n_train = len(x_train)
    del x_train
    fit_seconds, n_epochs_run = _fit(
        model, runner, state, best_weights, job, n_train, checkpoint_interval_s,
        save=lambda best: checkpoint.save(ckpt, model, state, best, identity))

    predictions, metrics = _score(model, loaded, target, job, state)
    timing = (t_start, fit_seconds, n_epochs_run)
    meta = _metadata(job, dataset_path, loaded, target, n_train, compute, timing, model)
    meta["started_from"] = started_from  # None: trained from scratch
    _write_outputs(out_dir, weights_path, model, predictions, state.history, meta, metrics)
    shutil.rmtree(ckpt, ignore_errors=True)
    return metrics


def _load(dataset_path, job: _Job) -> _Loaded:
    """Read the rows of the job's sample and build each split's network input."""
    setting = job.setting
    clusters = dataset.read_clusters(dataset_path)
    attrs = dataset.read_attrs(dataset_path)
    rows = sample_split(clusters, setting, job.sample_range, job.split, int(attrs["cutout_size"]),
                        job.fold)
    in_sample = np.sort(np.concatenate([rows[name] for name in SPLITS]))
    x_sample = views.read_input(dataset_path, setting.channels, in_sample)
    bytes_read = int(x_sample.nbytes) * (5 if setting.channels == "white_light" and not attrs.get("view") else 1)
    data = split_inputs(x_sample, in_sample, rows, clusters, setting, job.hyper, job.seed)
    return _Loaded(clusters, attrs, data, bytes_read)


def _log_sizes(job: _Job, data: SplitData, x_train: np.ndarray) -> None:
    log.info("%s seed %d: %d train (x%d augmented = %d), %d validation, %d test clusters; input %s",
             job.setting.name, job.seed, len(data.y["train"]), len(x_train) // len(data.y["train"]),
             len(x_train), len(data.y["validation"]), len(data.y["test"]), x_train.shape[1:])
    if job.fold is not None:
        log.info("cross-validation: fold %d of %d (its test clusters are no other fold's)", *job.fold)


def _build_model(input_shape, hyper: Hyper, seed: int):
    """Seed every generator, set the precision policy and build the compiled CNN."""
    import keras

    keras.utils.set_random_seed(seed)
    if hyper.precision != "float32":
        keras.mixed_precision.set_dtype_policy(hyper.precision)
    from .model import build_cnn

    return build_cnn(input_shape, conv_filters=hyper.conv_filters, dense_units=hyper.dense_units,
                     learning_rate=hyper.learning_rate, seed=seed)


def _warm_start(model, start_weights, job: _Job, loaded: _Loaded) -> dict:
    """Load the unmasked model this masked training fine-tunes (checked by warm_start.py)."""
    record = warm_start.source_record(start_weights, job.setting, job.seed, job.split, job.fold,
                                      loaded.attrs.get("content_sha256"))
    model.load_weights(record["weights"])
    log.info("warm start: fine-tuning from %s (seed %d), %d epochs at most", record["setting"],
             job.seed, job.hyper.epochs)
    return record


def _identity(job: _Job, x_train: np.ndarray) -> dict:
    """What the checkpoint must have been written by to be resumed: this training, not a leftover
    of one with another model, hyper-parameters, split or train set."""
    return {"setting": job.setting.name, "seed": job.seed,
            "fold": list(job.fold) if job.fold else None, "hyper": asdict(job.hyper),
            "split": asdict(job.split), "n_train": len(x_train),
            "input_shape": list(x_train.shape[1:])}


def _resume(ckpt: Path, identity: dict, model):
    """(state, best weights) of the checkpoint of this training in ``ckpt``, restored into
    ``model``; a fresh state when there is none. A checkpoint of another training is deleted."""
    resume_from = checkpoint.latest(ckpt)
    if resume_from is not None and checkpoint.written_by(resume_from) != checkpoint.jsonable(identity):
        log.warning("the checkpoint %s was written by another training (a different model, "
                    "hyper-parameters, split or train set); training from the start instead",
                    resume_from)
        shutil.rmtree(ckpt, ignore_errors=True)
        resume_from = None
    if resume_from is None:
        return checkpoint.State(), None
    state, best_weights = checkpoint.load(resume_from, model)
    log.info("resuming from the checkpoint after epoch %d (best validation loss %.5g at epoch %d)",
             state.epoch, state.best_val, state.best_epoch)
    return state, best_weights


def _fit(model, runner: EpochRunner, state: checkpoint.State, best_weights, job: _Job,
         n_train: int, interval_s: float, save) -> tuple[float, int]:
    """Train epochs until ``hyper.epochs`` or early stopping, then leave the best weights in the
    model. ``save(best_weights)`` writes a checkpoint, after an epoch once ``interval_s`` seconds
    have passed since the last. Returns (seconds, epochs run by this process)."""
    hyper = job.hyper
    last_save = time.monotonic()
    t_fit = time.perf_counter()
    n_epochs_run = 0
    while state.epoch < hyper.epochs and state.wait < hyper.patience:
        epoch = state.epoch + 1
        t0 = time.perf_counter()
        # Batch order depends on (seed, epoch) only, so a resumed run repeats it exactly.
        loss = runner.train_epoch(epoch_order(job.seed, epoch, n_train))
        val_loss = runner.validation_loss()
        dt = time.perf_counter() - t0
        n_epochs_run += 1
        state.history.append({"epoch": epoch, "loss": loss, "val_loss": val_loss, "seconds": dt})
        state.epoch = epoch
        if val_loss < state.best_val:
            state.best_val, state.best_epoch, state.wait = val_loss, epoch, 0
            best_weights = model.get_weights()
        else:
            state.wait += 1
        log.info("epoch %3d/%d  loss %.5f  val_loss %.5f  best %.5f @%d  %.1f s  %.0f img/s",
                 epoch, hyper.epochs, loss, val_loss, state.best_val, state.best_epoch, dt,
                 n_train / dt)
        if time.monotonic() - last_save >= interval_s:
            save(best_weights)
            last_save = time.monotonic()
    fit_seconds = time.perf_counter() - t_fit
    if state.wait >= hyper.patience:
        log.info("early stopping after epoch %d; restoring the best weights of epoch %d",
                 state.epoch, state.best_epoch)
    if best_weights is not None:
        model.set_weights(best_weights)
    return fit_seconds, n_epochs_run


def _score(model, loaded: _Loaded, target: _TargetScale, job: _Job,
           state: checkpoint.State) -> tuple[pd.DataFrame, dict]:
    """Score every split with predictions scaled back to log age: (predictions, metrics)."""
    data = loaded.data
    rows, metrics = [], {"setting": job.setting.name, "seed": job.seed}
    for name in SPLITS:
        # float64 before writing: a float32 column loses digits in the CSV round trip.
        out = model.predict(data.x[name], batch_size=256, verbose=0)
        pred = target.unscale(out.reshape(-1).astype(np.float64))
        metrics[f"scatter_{name}"] = scatter(pred, data.y[name])
        metrics[f"n_{name}"] = int(len(pred))
        sel = loaded.clusters.iloc[data.rows[name]]
        rows.append(pd.DataFrame({"galaxy": sel["galaxy"].to_numpy(),
                                  "cluster_id": sel["cluster_id"].to_numpy(),
                                  "split": name, "log_age_true": data.y[name],
                                  "log_age_pred": pred}))
    metrics.update({"epochs_run": state.epoch, "best_epoch": state.best_epoch,
                    "best_val_loss": state.best_val})
    log.info("%s seed %d: scatter train %.3f, validation %.3f, test %.3f dex",
             job.setting.name, job.seed, metrics["scatter_train"], metrics["scatter_validation"],
             metrics["scatter_test"])
    return pd.concat(rows, ignore_index=True), metrics


def _metadata(job: _Job, dataset_path, loaded: _Loaded, target: _TargetScale, n_train: int,
              compute: dict, timing: tuple, model) -> dict:
    """metadata.json; ``timing`` = (start of the call, fit seconds, epochs this process ran)."""
    t_start, fit_seconds, n_epochs_run = timing
    fold, data, attrs = job.fold, loaded.data, loaded.attrs
    return {
        "setting": asdict(job.setting), "setting_name": job.setting.name, "seed": job.seed,
        "hyperparameters": asdict(job.hyper), "sample_range": job.sample_range,
        "split": {**job.split.as_dict(),
                  **({"fold": int(fold[0]), "folds": int(fold[1])} if fold is not None else {}),
                  **{f"n_{k}": int(len(v)) for k, v in data.y.items()},
                  "n_train_augmented": int(n_train)},
        "target_scaling": {"min": target.lo, "max": target.hi},
        "dataset": {"path": str(dataset_path), "content_sha256": attrs.get("content_sha256"),
                    "data_source": attrs.get("data_source"), "view": attrs.get("view"),
                    "image_bytes_read": loaded.bytes_read},
        "input_shape": list(data.x["train"].shape[1:]),
        "versions": _versions(),
        "compute": compute,
        "timing": {"total_seconds": time.perf_counter() - t_start, "fit_seconds": fit_seconds,
                   "epochs_this_process": n_epochs_run,
                   "train_images_per_second": n_epochs_run * n_train / fit_seconds if n_epochs_run else None},
        "parameters": int(model.count_params()),
    }


def _write_outputs(out_dir: Path, weights_path: Path, model, predictions: pd.DataFrame,
                   history: list[dict], meta: dict, metrics: dict) -> None:
    from .model import save_weights_only

    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(weights_path) as tmp:
        save_weights_only(model, tmp)
    with atomic_path(out_dir / "predictions.csv") as tmp:
        predictions.to_csv(tmp, index=False)
    with atomic_path(out_dir / "history.csv") as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    write_json(out_dir / "metadata.json", meta)
    write_json(out_dir / "metrics.json", metrics)  # last: its presence means the run is whole
