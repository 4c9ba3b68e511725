"""The first call of a job script that runs a model: its log, its threads and its Keras backend,
all set before any numerical library is imported."""

from __future__ import annotations

import os

from clusterage.logs import to_file

THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS")


def start_job(log_path: str, threads: int, keras_backend: str | None = None) -> None:
    """stderr and log lines to ``log_path``; the math libraries kept to the job's ``threads``
    (one job per core); ``keras_backend`` (the config's) if given."""
    to_file(log_path)
    for var in THREAD_VARIABLES:
        os.environ[var] = str(threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    if keras_backend:
        os.environ["KERAS_BACKEND"] = keras_backend
