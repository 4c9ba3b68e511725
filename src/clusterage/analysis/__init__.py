"""From finished runs to the paper's answers: scatters with bootstrap intervals, the tables of
the sweep, the findings, the disputed ages, and the attribution maps.
"""
