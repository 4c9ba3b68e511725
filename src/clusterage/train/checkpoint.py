"""The resume checkpoint of a training: the full training state (weights, optimiser,
early-stopping counters, history) written at the end of epochs, and read back on a restart.

Each save writes ``epoch-NNNN/`` whole and then points ``latest`` at it, so a kill at any moment
leaves a valid checkpoint. ``identity.json`` records what wrote it (model, hyper-parameters,
split, train set), so a restart resumes only a checkpoint of the same training.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from clusterage.atomic import atomic_path


class State:
    """Early-stopping and history state that survives a restart."""

    def __init__(self):
        self.epoch = 0
        self.best_val = float("inf")
        self.best_epoch = 0
        self.wait = 0
        self.history: list[dict] = []


def jsonable(value):
    """``value`` as it reads back from JSON (tuples become lists, and so on)."""
    return json.loads(json.dumps(value))


def written_by(path: Path):
    """The identity a checkpoint was written with (None for one without)."""
    file = path / "identity.json"
    return json.loads(file.read_text()) if file.exists() else None


def save(ckpt: Path, model, state: State, best_weights, identity: dict) -> None:
    """Write epoch-N/ whole, then point ``latest`` at it; a kill at any moment leaves a valid one."""
    target = ckpt / f"epoch-{state.epoch:04d}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    (target / "identity.json").write_text(json.dumps(identity))
    model.save(target / "model.keras")
    if best_weights is not None:
        np.savez(target / "best.npz", *best_weights)
    (target / "state.json").write_text(json.dumps(vars(state)))
    with atomic_path(ckpt / "latest") as tmp:
        Path(tmp).write_text(target.name)
    for old in ckpt.glob("epoch-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)


def latest(ckpt: Path) -> Path | None:
    """The folder ``latest`` points at, if it holds a whole checkpoint."""
    pointer = ckpt / "latest"
    if not pointer.exists():
        return None
    path = ckpt / pointer.read_text().strip()
    return path if (path / "state.json").exists() else None


def load(path: Path, model):
    """Restore the checkpoint at ``path`` into ``model``: (State, best weights or None)."""
    import keras

    saved = keras.models.load_model(path / "model.keras")
    model.set_weights(saved.get_weights())
    # Carry the optimiser's moments and step count over, so the update sequence continues.
    model.optimizer.build(model.trainable_variables)
    for var, value in zip(model.optimizer.variables, saved.optimizer.variables):
        var.assign(value)
    state = State()
    vars(state).update(json.loads((path / "state.json").read_text()))
    best = None
    if (path / "best.npz").exists():
        with np.load(path / "best.npz") as npz:
            best = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    return state, best
