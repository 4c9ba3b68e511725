"""Training one run of the grid: the paper's CNN, its fit loop, the device it runs on, the lock
that keeps a run from training twice, and the kept models.
"""
