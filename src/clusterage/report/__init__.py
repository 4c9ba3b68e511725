"""Figures, the report and the galleries a reader takes into a paper.
"""
