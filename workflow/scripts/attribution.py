"""Integrated Gradients, SmoothGrad and test-time occlusion of one trained (setting, seed)."""
from clusterage.train.jobstart import start_job

start_job(snakemake.log[0], snakemake.threads, snakemake.config.get("keras_backend"))

from pathlib import Path  # noqa: E402

from clusterage.analysis.explain import Options, explain_run  # noqa: E402

explain_run(snakemake.input.dataset, Path(snakemake.input.metadata).parent, snakemake.output.maps,
            snakemake.output.profiles, snakemake.output.occlusion,
            Options.from_config(snakemake.params.options), seed=int(snakemake.wildcards.seed))
