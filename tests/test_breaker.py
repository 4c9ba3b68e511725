"""A run stops when its trainings fail alike for a reason no retry can cure (clusterage.cluster.breaker)."""

from __future__ import annotations

import threading
import time

import pytest

from clusterage.cluster.breaker import recording, tripped, watch
from clusterage.train.device import DeviceError


def fail(folder, run, exc):
    with pytest.raises(type(exc)):
        with recording(folder, run):
            raise exc


def test_errors_no_retry_can_cure_are_recorded_and_still_raised(tmp_path):
    fail(tmp_path, "a.log", ImportError("No module named 'jax_cuda12_plugin'"))
    fail(tmp_path, "b.log", DeviceError("this job was given a GPU but Keras backend 'jax' sees none"))
    fail(tmp_path, "c.log", ValueError("sample 'young' holds only 3 clusters"))  # the run's own
    fail(tmp_path, "d.log", KeyboardInterrupt())
    import json

    records = {json.loads(p.read_text())["run"]: json.loads(p.read_text())["error"]
               for p in tmp_path.glob("*.json")}
    assert records == {"a.log": "ImportError", "b.log": "DeviceError"}


def test_the_same_error_in_enough_different_trainings_trips_it(tmp_path):
    since = time.time()
    same = ImportError("No module named 'jax_cuda12_plugin'")
    fail(tmp_path, "a.log", same)
    fail(tmp_path, "a.log", same)  # a retry of the same training counts once
    fail(tmp_path, "b.log", ImportError("No module named 'h5py'"))  # another error
    assert tripped(tmp_path, since, threshold=2) is None
    fail(tmp_path, "c.log", same)
    reason = tripped(tmp_path, since, threshold=2)
    assert reason.startswith("2 trainings failed with the same error")
    assert "ImportError: No module named 'jax_cuda12_plugin'" in reason and "hosts:" in reason
    assert tripped(tmp_path, since, threshold=3) is None
    assert tripped(tmp_path, since, threshold=0) is None, "0 never stops"
    assert tripped(tmp_path, time.time() + 1, threshold=2) is None, "an earlier run's records"


def test_the_watcher_stops_the_run_once(tmp_path):
    stopped, seen = threading.Event(), []
    thread = watch(tmp_path, time.time(), 2, lambda reason: (seen.append(reason), stopped.set()),
                   poll_s=0.05)
    fail(tmp_path, "a.log", DeviceError("sees no GPU (SLURM_JOB_GPUS=0)"))
    time.sleep(0.2)
    assert not stopped.is_set()
    fail(tmp_path, "b.log", DeviceError("sees no GPU (SLURM_JOB_GPUS=3)"))  # another node's GPU
    assert stopped.wait(5), "the watcher did not stop the run"
    thread.join(5)
    assert len(seen) == 1 and "DeviceError: sees no GPU (SLURM_JOB_GPUS=0)" in seen[0]
