"""Checks against a known answer: the synthetic survey against the paper's numbers
(calibration), and each analysis against the truth planted in the synthetic survey.
"""
