"""Figures to trust the simulation: example cutouts across ages, and U-B vs V-I over the SSP track."""
from pathlib import Path

from clusterage.logs import to_file

to_file(snakemake.log[0])

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from astropy.table import Table  # noqa: E402

from clusterage.synthetic.figures import plot_colour_colour, plot_example_cutouts  # noqa: E402

survey = Path(snakemake.input.truth).parent.parent  # <survey>/synthetic-truth/<galaxy>.csv
truth = pd.read_csv(snakemake.input.truth)
plot_example_cutouts(survey, snakemake.params.galaxy, truth, snakemake.output.cutouts)
catalog = pd.concat([Table.read(p).to_pandas() for p in snakemake.input.catalogs], ignore_index=True)
plot_colour_colour(catalog, snakemake.output.colours,
                   log_age=np.log10(catalog["PHANGS_AGE_MINCHISQ"].to_numpy()) + 6,
                   age_label="catalog (SED) log(age / yr)")
