"""Logs a person reads: the run's own lines first, library start-up notices out, warnings in."""

import os
import re
import subprocess
import sys
import time

from test_training import make_dataset

OWN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) +clusterage\.")

TRAIN_WITH_LOG = """
import sys
from clusterage.logs import to_file
to_file(sys.argv[1])
import warnings
from clusterage.train.training import Hyper, Setting, train
train(sys.argv[2], sys.argv[3], Setting("white_light", "full"), seed=0,
      hyper=Hyper(conv_filters=(4, 4, 4), dense_units=(8,), learning_rate=3e-3, epochs=2,
                  rotations=1))
warnings.warn("a real warning after training")
"""


def test_a_training_log_starts_with_the_runs_own_lines(tmp_path):
    data = make_dataset(tmp_path / "d.h5", n=60, size=32)
    log = tmp_path / "logs" / "train.log"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(OMP_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    out = subprocess.run([sys.executable, "-c", TRAIN_WITH_LOG, str(log), str(data),
                          str(tmp_path / "run")], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = log.read_text().splitlines()
    assert OWN_LINE.match(lines[0]), lines[:5]
    # the run's own lines first: the device it trains on, then the run it trains
    first = next(k for k, line in enumerate(lines) if "full/white_light/none/true seed 0" in line)
    assert all(OWN_LINE.match(line) for line in lines[:first + 1]), lines[:first + 1]
    noise = [line for line in lines if re.search(
        r"absl::InitializeLog|oneDNN|cpu_feature_guard|rebuild TensorFlow|^[IW]\d{4} ", line)]
    assert noise == []
    assert any("epoch   2/2" in line for line in lines)
    assert any("UserWarning: a real warning after training" in line for line in lines)


NATIVE = r"""
import os, sys, signal
from clusterage.logs import to_file
to_file(sys.argv[1])
import logging
logging.getLogger("clusterage.x").info("our first line")
logging.getLogger("absl").info("an absl start-up notice")
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
os.write(2, b"I0000 00:00:1 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions\n")
os.write(2, b"E0000 00:00:1 cuda_dnn.cc:8579] Unable to register cuDNN factory: already registered\n")
os.write(2, b"E0000 00:00:1 real_error.cc:1] a real native error\n")
logging.getLogger("absl").warning("a real absl warning")
logging.getLogger("clusterage.x").info("our last line")
if sys.argv[2] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _native(tmp_path, how):
    log = tmp_path / f"{how}.log"
    out = subprocess.run([sys.executable, "-c", NATIVE, str(log), how], capture_output=True,
                         text=True, timeout=120)
    return out, log


def test_native_start_up_notices_are_dropped_and_real_errors_kept(tmp_path):
    for how in ("exit", "kill"):
        out, log = _native(tmp_path, how)
        assert out.returncode == (0 if how == "exit" else -9), out.stderr
        if how == "kill":  # the filter drains the pipe after the script died
            for _ in range(100):
                if "real native error" in log.read_text():
                    break
                time.sleep(0.05)
        lines = log.read_text().splitlines()
        assert len(lines) == 4, lines
        assert lines[0].endswith("INFO    clusterage.x: our first line")
        # Python's lines keep their order; the native line comes through the filter
        python = [line for line in lines if " clusterage.x: " in line or " absl: " in line]
        assert python[1].endswith("WARNING absl: a real absl warning")
        assert python[2].endswith("INFO    clusterage.x: our last line")
        assert "E0000 00:00:1 real_error.cc:1] a real native error" in lines
