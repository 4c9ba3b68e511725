"""Train and score one model: one (setting, seed) of the grid."""
from clusterage.train.jobstart import start_job

start_job(snakemake.log[0], snakemake.threads, snakemake.config.get("keras_backend"))

from pathlib import Path  # noqa: E402

from clusterage.cluster.breaker import recording  # noqa: E402
from clusterage.grid import Hyper, Setting, SplitSpec, unrecoverable_dir  # noqa: E402
from clusterage.train.runlock import RunLock, file_identity, fingerprint  # noqa: E402

job = snakemake.params.job
# One job trains a run at a time. A duplicate (submitted again after the Snakemake process died
# while its Slurm jobs went on) waits for the first and reuses its outputs (clusterage.train.runlock).
# An error no retry can cure (the backend's import, a GPU it cannot see) is recorded for the
# Snakemake process, which stops the run when several trainings fail with it (clusterage.cluster.breaker).
work = fingerprint(job, snakemake.params.split, dict(snakemake.wildcards.items()),
                   file_identity(snakemake.input[0]))
with recording(unrecoverable_dir(snakemake.config["results"]), snakemake.log[0]), \
        RunLock(f"{snakemake.params.checkpoint}.run", snakemake.output, fingerprint=work,
                log_file=snakemake.log[0]) as lock:
    from clusterage.train.training import train

    if lock.finished_by is None:
        train(
            snakemake.input[0],  # the packed dataset, or its white-light view for white_light
            Path(snakemake.output.metrics).parent,
            Setting(**job["setting"]),
            seed=int(snakemake.wildcards.seed),
            sample_range=job["sample_range"],
            hyper=Hyper.from_config(job["hyper"]),
            split=SplitSpec.from_config(snakemake.params.split),
            checkpoint_dir=snakemake.params.checkpoint,
            weights_path=snakemake.output.weights,
            # From the config, not params: changing how often state is saved retrains nothing.
            checkpoint_interval_s=snakemake.config.get("checkpoint_interval_s", 60),
            # A job given a GPU its backend cannot see stops at once, unless the config allows it.
            gpu_resource=snakemake.resources.get("gpu", 0),
            allow_cpu_fallback=snakemake.config.get("allow_cpu_fallback", False),
            fold=job.get("fold"),  # a cross-validation model (disputes.folds); absent: fixed split
            # warm_start: the unmasked model this masked one is fine-tuned from; none: from scratch
            start_weights=snakemake.input.start[0] if snakemake.input.start else None,
        )
