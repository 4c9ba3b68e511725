"""clusterage: where in a Hubble image is a star cluster's age written?

Reproduces and extends Viaña et al., "To What Extent Are Star Cluster Ages Encoded in Their
Environments?" (PHANGS-HST + CNNs). The Snakemake workflow in this repository calls into this
package; every stage can be used and tested without Snakemake.
"""

__version__ = "0.1.0"
