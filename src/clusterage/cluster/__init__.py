"""Running the sweep on a Slurm cluster: the checks before submission, job states, job arrays,
the circuit breaker, and the footprint of a sweep (GPU-hours, disk).
"""
