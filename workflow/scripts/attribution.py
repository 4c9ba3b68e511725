"""Integrated Gradients, SmoothGrad and test-time occlusion of one trained (setting, seed)."""
import os

from clusterage.logs import to_file

to_file(snakemake.log[0])
for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = str(snakemake.threads)
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
if backend := snakemake.config.get("keras_backend"):
    os.environ["KERAS_BACKEND"] = backend  # before Keras is first imported

from pathlib import Path  # noqa: E402

from clusterage.attribution import Options, explain_run  # noqa: E402

explain_run(snakemake.input.dataset, Path(snakemake.input.metadata).parent, snakemake.output.maps,
            snakemake.output.profiles, snakemake.output.occlusion,
            Options.from_config(snakemake.params.options), seed=int(snakemake.wildcards.seed))
