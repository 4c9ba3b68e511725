"""What a finished run keeps of its model, and loading a kept model back.

A training job writes its trained weights (no optimiser state: 4 bytes per parameter, a third
of a full Keras save with Adam's moments) to a transient file; its resume checkpoint, which does
hold the optimiser state, is removed when the run completes. The weights are kept as
``model.weights.h5`` in the run's folder for the settings the config keeps (``keep_models``,
per case or for the whole grid) and for any setting whose model a later step loads; the others
are deleted as soon as the run is scored.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from clusterage.atomic import atomic_path

log = logging.getLogger(__name__)

MODEL_FILE = "model.weights.h5"


def keep_weights(trained: str | Path, kept: str | Path) -> None:
    """Make ``kept`` the same file as ``trained``: a hard link (no bytes copied), else a copy."""
    with atomic_path(kept) as tmp:
        try:
            os.link(trained, tmp)
            how = "linked"
        except OSError:  # another file system, or one without hard links
            shutil.copyfile(trained, tmp)
            how = "copied"
    log.info("%s %s -> %s (%d bytes)", how, trained, kept, Path(kept).stat().st_size)


def load_model(run_dir: str | Path, weights: str | Path | None = None):
    """The trained model of a finished run, and the run's metadata.

    Built from the run's metadata (input shape, layer sizes) by ``model.build_cnn`` and loaded
    from the weights file (``run_dir/model.weights.h5`` unless given), on whichever Keras
    backend is active. Predictions are train-scaled: ``log_age = pred * (max - min) + min``
    with ``metadata["target_scaling"]``.
    """
    from .model import build_cnn, load_weights_only

    run_dir = Path(run_dir)
    weights = Path(weights) if weights else run_dir / MODEL_FILE
    meta_path = run_dir / "metadata.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found: {run_dir} is not a finished run")
    if not weights.exists():
        raise FileNotFoundError(f"{weights} not found: this run's weights were not kept "
                                f"(set keep_models: weights for its case, or list it as an input "
                                f"of the step that loads it)")
    meta = json.loads(meta_path.read_text())
    hyper = meta["hyperparameters"]
    model = build_cnn(tuple(meta["input_shape"]), conv_filters=tuple(hyper["conv_filters"]),
                      dense_units=tuple(hyper["dense_units"]), learning_rate=hyper["learning_rate"])
    load_weights_only(model, weights)
    return model, meta
