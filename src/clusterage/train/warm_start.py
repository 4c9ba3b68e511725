"""Warm start: a masked model fine-tuned from the finished unmasked model of the same sample,
channels, seed, split and dataset (config ``warm_start``; docs/warm-start.md), instead of trained
from scratch.

The starting model is checked against what the fine-tuning trains before its weights are loaded:
a model of another setting, seed, split or dataset is refused, naming what differs. The record
this returns goes into the run's metadata.json (``started_from``) and into the identity of its
resume checkpoints.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from clusterage.grid import Setting, SplitSpec
from clusterage.plan import warm_start_source


class WarmStartError(ValueError):
    """The starting model is not the unmasked model of this training."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_record(weights, setting: Setting, seed: int, split: SplitSpec, fold,
                  dataset_sha256: str | None) -> dict:
    """Where a fine-tuning of ``setting`` starts: the kept weights ``weights`` of a finished run
    (its metadata.json beside them), checked to be the unmasked, true-label model of the same
    sample, channels, seed, split and dataset. Raises WarmStartError naming what differs."""
    weights = Path(weights)
    expected = warm_start_source(setting)
    where = f"warm start of {setting.name} (seed {seed}) from {weights}"
    if expected is None:
        raise WarmStartError(f"{where}: {setting.name} is trained from scratch (only masked "
                             f"true-label models are fine-tuned)")
    if fold is not None:
        raise WarmStartError(f"{where}: cross-validation models are trained from scratch")
    meta_path = weights.parent / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise WarmStartError(f"{where}: cannot read the starting run's {meta_path.name}: {exc}") from None
    recorded_split = {k: v for k, v in meta.get("split", {}).items() if k in split.as_dict()}
    differs = [f"{what} is {theirs!r}, not {ours!r}" for what, theirs, ours in (
        ("its setting", meta.get("setting_name"), expected.name),
        ("its seed", meta.get("seed"), seed),
        ("its split", recorded_split, split.as_dict()),
        ("its cross-validation fold", meta.get("split", {}).get("fold"), None),
        ("its dataset (content_sha256)", meta.get("dataset", {}).get("content_sha256"), dataset_sha256),
    ) if json.dumps(theirs, sort_keys=True) != json.dumps(ours, sort_keys=True)]
    if differs:
        raise WarmStartError(f"{where}: refused, the starting model is not this training's "
                             f"unmasked model: {'; '.join(differs)}")
    return {"setting": expected.name, "seed": seed, "weights": str(weights),
            "weights_sha256": _sha256(weights)}
