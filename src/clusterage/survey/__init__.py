"""The survey's data, from MAST (or the synthetic survey) to what the CNN sees: catalogs and
images downloaded and checked, cutouts extracted and packed into one HDF5 dataset, the splits,
and the inputs (channels, masks, normalisation) built from it.
"""
