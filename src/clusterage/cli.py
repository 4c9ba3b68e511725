"""The ``clusterage`` command: look at a sweep before running it, at a packed dataset, and at
finished runs.

    clusterage plan [--profile DIR] [--configfile FILE ...] [--dataset FILE] [--jobs N]
    clusterage inspect FILE.h5
    clusterage findings RESULTS [RESULTS ...]   # the paper's findings of finished runs
    clusterage calibration RESULTS [RESULTS ...] [--out PATH]
    clusterage known-answer RESULTS [RESULTS ...] --out PATH
    clusterage leakage ROOT --out PATH
    clusterage planted RESULTS [--out PATH]
    clusterage sweep-methods SCRATCH WARM [--out PATH]   # retrained vs warm-started vs occlusion

The subcommands after ``inspect`` are those of their modules (``clusterage <name> --help``), which
they import only when run; ``python -m clusterage.<stage>.<module>`` runs the same.

Run from the workflow's folder (the clone), as Snakemake is: the config is config/config.yaml,
then a profile's own ``config:``, then each --configfile laid over them key by key (the order the
workflow applies), validated and completed with the schema's defaults exactly as the workflow
does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import plan
from .cluster import footprint, slurm_arrays
from .configfile import DEFAULT_CONFIG, load_config, load_profile  # noqa: F401 (load_config: tests)

# Subcommands that hand their arguments to a module's main(argv): name -> (module, one line).
TOOLS = {
    "findings": ("analysis.findings", "the paper's findings of finished runs, decided by their intervals"),
    "calibration": ("checks.calibration", "a synthetic survey's runs against the paper's Fig. 4 cases"),
    "known-answer": ("checks.known_answer", "runs on the synthetic survey with and without the planted "
                     "signal, compared"),
    "leakage": ("checks.leakage", "runs that differ only in how clusters are split, to measure leakage"),
    "planted": ("checks.planted", "the disagreement catalog scored against the SED errors planted in a "
                "synthetic survey"),
    "sweep-methods": ("checks.sweep_methods", "a mask sweep retrained from scratch against the same "
                      "sweep warm-started and against test-time occlusion"),
}


def run_tool(name: str, argv: list[str]) -> int:
    """Run the module of subcommand ``name`` on ``argv``, imported only now (some draw figures)."""
    from importlib import import_module

    module = import_module(f"{__package__ or 'clusterage'}.{TOOLS[name][0]}")
    try:
        return int(module.main(argv) or 0)
    except FileNotFoundError as exc:  # a results folder or one of its tables missing: name it
        raise SystemExit(f"clusterage {name}: {exc}") from None


def cmd_plan(args) -> int:
    directory = Path(args.directory)
    profile = load_profile(directory, args.profile)
    config = load_config(directory, args.configfile, profile)
    try:
        grid = plan.Plan.of(config)
    except plan.ConfigError as exc:
        raise SystemExit(f"clusterage: config error: {exc}") from None
    dataset = Path(args.dataset) if args.dataset else directory / config["results"] / "dataset" / "cutouts.h5"
    if args.dataset and not dataset.exists():
        raise SystemExit(f"clusterage: dataset {dataset} not found")
    try:
        clusters = footprint.clusters_for(config, dataset)
    except OSError as exc:  # not HDF5, or unreadable
        raise SystemExit(f"clusterage: dataset {dataset}: {exc}") from None
    except ValueError as exc:  # names the file
        raise SystemExit(f"clusterage: {exc}") from None
    fp = footprint.estimate(grid, clusters, config["attribution"]["cluster_maps"])
    files = " + ".join([DEFAULT_CONFIG]
                       + ([f"the config of {args.profile}"] if profile.get("config") else [])
                       + args.configfile)
    print(f"sweep of {files}")
    print(footprint.report(fp, args.jobs or int(profile.get("jobs", 50))))
    group = (profile.get("groups") or {}).get("train")
    packed = (profile.get("group-components") or {}).get(group) if group else None
    print(slurm_arrays.sbatch_calls(fp.trainings, packed))
    print(_both_ways(config, grid, fp, clusters))
    return 0


def _both_ways(config: dict, grid, fp, clusters) -> str:
    """The plan's training cost from scratch and warm-started, whichever the config chose."""
    enabled = config["warm_start"]["enabled"]
    other = {**config, "warm_start": {**config["warm_start"], "enabled": not enabled}}
    try:
        other_fp = footprint.estimate(plan.Plan.of(other), clusters, config["attribution"]["cluster_maps"])
    except plan.ConfigError as exc:
        return f"training both ways: {'from scratch' if enabled else 'warm-started'} not possible here ({exc})"
    return footprint.both_ways(*((other_fp, fp) if enabled else (fp, other_fp)))


def cmd_inspect(args) -> int:
    import h5py

    from .survey.dataset import read_clusters

    path = Path(args.file)
    if not path.exists():
        raise SystemExit(f"clusterage: {path} not found")
    try:
        clusters = read_clusters(path)
        with h5py.File(path, "r") as f:
            shape, dtype = f["images"].shape, f["images"].dtype
            attrs = dict(f.attrs)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"clusterage: {exc}") from None
    age = clusters["log_age"]
    print(f"{path}: {footprint.human(path.stat().st_size)}")
    print(f"  images: {shape[0]} x {shape[1]} x {shape[2]} x {shape[3]} {dtype}"
          f" ({attrs.get('view') or 'the five filters ' + ', '.join(attrs.get('bands', []))})")
    print(f"  per cluster: {footprint.human(int(dtype.itemsize) * shape[1] * shape[2] * shape[3])}")
    print(f"  data source: {attrs.get('data_source')}; {attrs.get('software_version')}")
    print(f"  content sha256: {attrs.get('content_sha256')}")
    print(f"  log age: {age.min():.2f} .. {age.max():.2f} (median {age.median():.2f})")
    print("  clusters per galaxy:")
    for galaxy, n in clusters["galaxy"].value_counts().sort_index().items():
        print(f"    {galaxy:<10} {n:>6}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in TOOLS:
        return run_tool(argv[0], argv[1:])
    parser = argparse.ArgumentParser(prog="clusterage", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="trainings, disk, data read per job and GPU time of a sweep")
    p.add_argument("--configfile", nargs="+", default=[], metavar="FILE",
                   help="config files laid over config/config.yaml, as for snakemake")
    p.add_argument("--dataset", help="packed dataset to count clusters in, used when it was "
                   "built from these configs' survey (default: <results>/dataset/cutouts.h5 when "
                   "it exists, else an estimate)")
    p.add_argument("--profile", metavar="DIR",
                   help="a Snakemake profile (e.g. profiles/slurm): its config: is laid over the "
                   "config files and its jobs: is the default of --jobs")
    p.add_argument("--jobs", type=int,
                   help="training jobs running at once, for the transient disk (default: the "
                   "profile's jobs, else 50)")
    p.add_argument("--directory", default=".", help="the workflow's folder (default: here)")
    p.set_defaults(func=cmd_plan)
    p = sub.add_parser("inspect", help="summary of a packed dataset or a view of it")
    p.add_argument("file")
    p.set_defaults(func=cmd_inspect)
    for name, (_, line) in TOOLS.items():  # run above, before this parser: listed here only
        sub.add_parser(name, add_help=False, help=line)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
