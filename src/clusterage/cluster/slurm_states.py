"""See a Slurm job cancelled by a user as failed: an adapter for snakemake-executor-plugin-slurm.

``sacct`` reports a job cancelled by a user as ``CANCELLED by <uid>``. The plugin (2.8.0, the
newest release) compares each job's state exactly against its list of failure states, which
holds ``CANCELLED``, so such a job counts as still running: Snakemake waits for it forever and
never retries it. (``squeue`` prints plain ``CANCELLED``, but only for ``MinJobAge`` seconds; after
that the plugin cannot see the job at all and also waits forever, and the plugin itself switches
back to ``sacct`` where ``MinJobAge`` is short.)

:func:`install` wraps the plugin's state query in the Snakemake process that submits the jobs so
that every state is reduced to its first word (``CANCELLED by 0`` -> ``CANCELLED``); every
Slurm state name is one word, so nothing else changes. The workflow calls it when it runs under
the Slurm executor (``onstart`` in workflow/rules/common.smk).
"""

from __future__ import annotations

import functools
import importlib
import inspect

PLUGIN = "snakemake_executor_plugin_slurm"


def plain_state(state: str) -> str:
    """``CANCELLED by 1234`` -> ``CANCELLED``; any other Slurm state unchanged."""
    words = state.split()
    return words[0] if words else state


def plain_states(states: dict[str, str] | None) -> dict[str, str] | None:
    return None if states is None else {job: plain_state(s) for job, s in states.items()}


def install(plugin=None) -> bool:
    """Wrap the plugin's ``query_job_status``; True if it is (now) wrapped. Idempotent."""
    plugin = plugin or importlib.import_module(PLUGIN)
    query = getattr(plugin, "query_job_status", None)
    if query is None or not inspect.iscoroutinefunction(query):
        raise RuntimeError(
            f"{PLUGIN} {getattr(plugin, '__version__', '')} has no async query_job_status: "
            "clusterage.cluster.slurm_states must be adapted to this plugin version")
    if getattr(query, "plain_states", False):
        return True

    @functools.wraps(query)
    async def query_job_status(*args, **kwargs):
        states, seconds = await query(*args, **kwargs)
        return plain_states(states), seconds

    query_job_status.plain_states = True
    plugin.query_job_status = query_job_status
    return True
