"""The experiment grid's vocabulary: what a model is shown, how it is trained, where its run lives.

A leaf module (standard library only): Snakemake imports it to build the job graph, the training
job to name its inputs, the aggregation to find the runs. The run layout is spelled here once:

    <results>/train/<sample>/<channels>/<occlusion>/<labels>/seed<k>
    <results>/attribution/<sample>/<channels>/<occlusion>/<labels>/seed<k>   (explained runs)

and the Snakemake patterns (outputs, checkpoints, logs, benchmarks, wildcard constraints) are
built from the same pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

CHANNELS = ("five_band", "white_light")
MASKS = ("none", "inner", "outer")
LABELS = ("true", "shuffled")  # the labels of a model trained on true or on permuted ages

# A setting's name, and the part of every run path below the stage folder.
SETTING = "{sample}/{channels}/{occlusion}/{labels}"


@dataclass(frozen=True)
class Setting:
    """What the CNN is shown: the identity of a trained model, shared across figures."""

    channels: str
    sample: str
    mask: str = "none"
    diameter: int = 0
    shuffled_labels: bool = False

    def __post_init__(self):
        if self.channels not in CHANNELS:
            raise ValueError(f"unknown channels {self.channels!r}")
        if self.mask not in MASKS:
            raise ValueError(f"unknown mask {self.mask!r}")

    @property
    def occlusion(self) -> str:
        """'none' for an unmasked model (D = 0 is the same model for inner and outer sweeps)."""
        return "none" if self.mask == "none" or self.diameter == 0 else f"{self.mask}{self.diameter}"

    @property
    def labels(self) -> str:
        return LABELS[1] if self.shuffled_labels else LABELS[0]

    @property
    def name(self) -> str:
        return SETTING.format(sample=self.sample, channels=self.channels,
                              occlusion=self.occlusion, labels=self.labels)


@dataclass
class Hyper:
    """Training hyper-parameters; defaults are the paper's (Table 2, Sect. 3.1)."""

    conv_filters: tuple = (128, 256, 512)
    dense_units: tuple = (512, 256, 128)
    learning_rate: float = 1e-6
    batch_size: int = 32
    epochs: int = 200
    patience: int = 30
    rotations: int = 4
    flips: bool = False
    normalisation: str = "instance"
    precision: str = "float32"

    @classmethod
    def from_config(cls, cfg: dict) -> "Hyper":
        known = set(cls.__dataclass_fields__)
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"unknown training key(s) {sorted(unknown)}; known: {sorted(known)}")
        cfg = dict(cfg)
        for key in ("conv_filters", "dense_units"):
            if key in cfg:
                cfg[key] = tuple(cfg[key])
        return cls(**cfg)


# --------------------------------------------------------------------------------------------
# Run layout
# --------------------------------------------------------------------------------------------

def setting_name(sample: str, channels: str, occlusion: str, labels: str) -> str:
    """A setting's name from its path parts (e.g. Snakemake's wildcards)."""
    return SETTING.format(sample=sample, channels=channels, occlusion=occlusion, labels=labels)


def _run(setting: str, seed) -> str:
    return f"{setting}/seed{seed}"


def run_dir(results: str, setting: str, seed) -> str:
    """The folder of one (setting, seed) run: metrics, predictions, history, metadata, model."""
    return f"{results}/train/{_run(setting, seed)}"


def checkpoint_dir(results: str, setting: str, seed) -> str:
    """Where a running job keeps its resumable state; removed when the run finishes."""
    return f"{results}/checkpoints/{_run(setting, seed)}"


def train_log(results: str, setting: str, seed) -> str:
    return f"{results}/logs/train/{_run(setting, seed)}.log"


def train_benchmark(results: str, setting: str, seed) -> str:
    return f"{results}/benchmarks/train/{_run(setting, seed)}.tsv"


def attribution_dir(results: str, setting: str, seed) -> str:
    """Where the attributions of one run live: maps.h5, profiles.csv, occlusion.csv."""
    return f"{results}/attribution/{_run(setting, seed)}"


def attribution_log(results: str, setting: str, seed) -> str:
    return f"{results}/logs/attribution/{_run(setting, seed)}.log"


def attribution_benchmark(results: str, setting: str, seed) -> str:
    return f"{results}/benchmarks/attribution/{_run(setting, seed)}.tsv"


# Snakemake's view of the same paths: the setting's parts and the seed are wildcards.
RUN_WILDCARDS = (SETTING, "{seed}")


def wildcard_constraints() -> dict[str, str]:
    """Regexes of the run wildcards, from the names the package knows."""
    masked = "|".join(rf"{m}\d+" for m in MASKS if m != "none")
    return {
        "sample": "[A-Za-z0-9_]+",
        "channels": "|".join(CHANNELS),
        "occlusion": f"none|{masked}",
        "labels": "|".join(LABELS),
        "seed": r"\d+",
    }
