"""A synthetic PHANGS-like survey with a known answer (docs/synthetic-survey.md).

Per galaxy: five FITS mosaics and PHANGS-style cluster catalogs in the real MAST layout, with
clusters whose colours follow BC03 stellar populations and whose surroundings depend on age by
the controlled amount ``env_strength``.
"""

from .params import DEFAULTS, resolve
from .survey import simulate, write_galaxy

__all__ = ["DEFAULTS", "resolve", "simulate", "write_galaxy"]
