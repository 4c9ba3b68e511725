"""Logging for workflow scripts: one readable line per event, everything into the rule's log.

A log starts with the run's own lines. The start-up notices of the numerical libraries
(TensorFlow's oneDNN and CPU-feature lines, absl's "before InitializeLog" preamble, CUDA or
TensorRT "not found" notices on machines without them, JAX's backend probing) are kept out:
their C++ logging is set to warnings and errors before they are imported, their Python loggers
to warnings, and the few start-up lines they print as warnings or errors anyway are dropped by
a small filter process between the native libraries' stderr (file descriptor 2) and the log
file. Every other warning and error, Python's or a native library's, still reaches the log.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

# Environment read by the native libraries when they are first imported.
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "1",   # TensorFlow / XLA C++: drop INFO, keep WARNING and ERROR
    "GRPC_VERBOSITY": "ERROR",
}
# Third-party Python loggers whose INFO lines are start-up notices, not the run's story.
QUIET_LOGGERS = ("absl", "jax", "jaxlib", "tensorflow", "keras", "torch", "h5py", "matplotlib",
                 "PIL", "fontTools", "urllib3", "numexpr")
# Start-up lines that libraries print as warnings or errors although nothing is wrong.
STARTUP_NOISE = re.compile("|".join([
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"rebuild TensorFlow with the appropriate compiler flags",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
    r"Could not find cuda drivers on your machine",
    r"failed call to cuInit",
    r"CUDA-enabled jaxlib is not installed",
    r"Unable to initialize backend '(cuda|rocm|tpu|METAL)'",
]))


def is_startup_noise(line: str) -> bool:
    """True for a library's start-up notice that says nothing about this run."""
    return bool(STARTUP_NOISE.search(line))


def _filter(path: str) -> None:
    """The filter process: copy stdin to ``path`` line by line, leaving out start-up noise.

    It ignores SIGINT and SIGTERM (sent to the whole job when it is cancelled) and ends when the
    script's end of the pipe closes, so it writes every line the script wrote, however it ended.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(path, "ab", buffering=0) as out:
        for raw in sys.stdin.buffer:
            if not is_startup_noise(raw.decode("utf-8", "replace")):
                out.write(raw)


def _through_filter(path: str) -> None:
    """Make fd 2 the pipe into a filter process that appends to ``path``."""
    import atexit

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    log_fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    filt = subprocess.Popen(
        [sys.executable, "-c", "import sys; from clusterage.logs import _filter; _filter(sys.argv[1])",
         path], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log_fd, env=env)
    os.close(log_fd)
    sys.stderr.flush()
    os.dup2(filt.stdin.fileno(), 2)
    filt.stdin.close()

    def finish():
        # Hand fd 2 back to the log file itself (for anything written while Python shuts down),
        # which closes the pipe; wait for the filter to write what is left in it.
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, 2)
        os.close(fd)
        try:
            filt.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    atexit.register(finish)


def to_file(path: str | None, level: int = logging.INFO) -> None:
    """Send stderr (Python's and native libraries', e.g. TensorFlow's) and log lines to ``path``.

    Call it first in a script, before any numerical library is imported.
    """
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        open(path, "wb").close()  # a fresh log for each attempt
        # Every write below appends (O_APPEND), so lines others add to the same file
        # (clusterage.train.runlock) are never overwritten. Python's own stderr (log lines, warnings,
        # tracebacks) goes straight to the file, in order with such lines; the native libraries'
        # (file descriptor 2) goes through the filter.
        _through_filter(path)
        sys.stderr = open(path, "a", buffering=1, encoding="utf-8", errors="backslashreplace")
    logging.basicConfig(level=level, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
