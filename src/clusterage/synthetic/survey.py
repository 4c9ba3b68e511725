"""One galaxy of the synthetic survey: population, surroundings, pixels, files."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from clusterage import galaxies
from clusterage.atomic import atomic_path
from clusterage.survey import reference

from . import catalog, clusters, companions, environment, layout, render, sed_errors, ssp
from .params import resolve
from .sky import mosaic_wcs

_COARSE = 8   # background parameter maps are blended on a grid this many pixels coarser


def _rngs(seed: int, target: str, n: int):
    """Independent streams per stage, seeded by (seed, target)."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(target.encode())])
    return [np.random.default_rng(s) for s in ss.spawn(n)]


def simulate(target: str, params: dict | None = None) -> dict:
    """Everything about one galaxy short of pixels: truth table and the sources to render."""
    if target not in galaxies.TABLE1:
        raise ValueError(
            f"data.galaxies: unknown galaxy {target!r}; known: {', '.join(galaxies.TABLE1)}"
        )
    p = resolve(params)
    info = galaxies.TABLE1[target]
    pcpp = galaxies.pc_per_pixel(info.distance_mpc)
    # A stream per stage; a stage added later takes a new stream, so earlier ones do not change.
    (r_age, r_pop, r_env, r_lay, r_sur, r_cat, r_img, r_id, r_pool, r_sed, r_shape,
     r_stars, r_companions) = _rngs(p["seed"], target, 13)

    ref = reference.log_ages(target)
    n = max(1, int(round(p["scale"] * ref.size)))
    if p["cluster_ids"] == "reference" and (p["age_distribution"] != "reference" or n > ref.size):
        raise ValueError(
            "synthetic.cluster_ids 'reference' needs age_distribution 'reference' and scale <= 1 "
            f"(one real cluster per simulated one); got {p['age_distribution']!r}, scale {p['scale']}"
        )
    if p["age_distribution"] == "flat":
        ref_rows = None
        log_age = clusters.draw_log_ages(r_age, ref, n, p)
    else:
        ref_rows = clusters.draw_reference_rows(r_age, ref.size, n)
        log_age = ref[ref_rows]
    pop = clusters.make_population(r_pop, log_age, info.distance_mpc, p)
    donors = environment.choose_donors(r_env, pop, _donor_pool(r_pool, pop, info, p), p)
    lay = layout.place(r_lay, donors["env_age_myr"].to_numpy(), p["neighbour_radius_pc"] / pcpp, p)
    env, bg, lanes, nebulae, neb_flux, nb, nb_flux, stars, st_flux = environment.surroundings(
        r_sur, donors, info.distance_mpc, pcpp, p
    )

    truth = pd.concat([pop, env], axis=1)
    truth.insert(0, "galaxy", target)
    truth["x"] = lay.x
    truth["y"] = lay.y
    truth["a_px"] = truth["reff_pc"] / np.sqrt(3.0) / pcpp
    truth["group"] = lay.group
    truth["edge"] = lay.edge
    truth["full_coverage"] = lay.full_coverage(lay.x, lay.y)
    wcs = mosaic_wcs(target, lay.shape)
    ra, dec = wcs.all_pix2world(lay.x, lay.y, 0)
    truth["ra"] = ra
    truth["dec"] = dec
    # IDs in detection-like order (by position), as catalogs number their sources.
    order = np.lexsort((np.rint(lay.x), np.rint(lay.y)))
    ids = np.empty(n, np.int64)
    ids[order] = np.arange(1, n + 1)
    cand = np.sort(r_id.choice(np.arange(1, 4 * n + 10), n, replace=False))
    alls = np.sort(r_id.choice(np.arange(1, 40 * n + 100), n, replace=False))
    truth["candidate_id"] = cand[ids - 1]
    truth["allsources_id"] = alls[ids - 1]
    if p["cluster_ids"] == "reference":
        # Each cluster carries the id of the real cluster whose age it drew.
        ids = reference.cluster_ids(target)[ref_rows]
    truth["cluster_id"] = ids
    # The catalog's SED solution: the truth, except the planted errors (images follow the truth).
    planted = sed_errors.plant(r_sed, pop, info.distance_mpc, p)
    truth = pd.concat([truth, sed_errors.apply(truth, planted)], axis=1)

    # Young clusters as irregular, clumpy associations (own streams, drawn only when switched
    # on: with the neutral defaults the survey is the same as without these options).
    axis_ratio = theta = None
    if p["young_ellipticity"] > 0:
        axis_ratio, theta = clusters.draw_shapes(r_shape, pop["age_myr"].to_numpy(), p)
        truth["axis_ratio"] = axis_ratio
        truth["position_angle_deg"] = np.degrees(theta)
    young_stars = pd.DataFrame({"cluster": np.zeros(0, np.int64), "dx": np.zeros(0),
                                "dy": np.zeros(0)})
    ys_flux = np.zeros((0, 5))
    if p["young_stars_per_1e4msun"] > 0:
        n_ys, young_stars, ys_flux = clusters.draw_young_stars(
            r_stars, pop, pcpp, info.distance_mpc, p, axis_ratio, theta)
        truth["n_young_stars"] = n_ys
    # Coeval companions (own stream, drawn only when switched on, like the shapes above).
    comp = pd.DataFrame({"cluster": np.zeros(0, np.int64), "dx": np.zeros(0), "dy": np.zeros(0),
                         "a_px": np.zeros(0), "log_age": np.zeros(0)})
    comp_flux = np.zeros((0, 5))
    if p["companions_per_cluster"] > 0:
        n_comp, comp, comp_flux = companions.draw(r_companions, pop, info.distance_mpc, pcpp, p)
        truth["n_companions"] = n_comp

    # RSGs sit inside their cluster; their light is part of the cluster's measured light.
    cl_flux = ssp.count_rate(pop[[f"m_ab_{f}" for f in ssp.FILTERS]].to_numpy())
    rsg = pop["rsg"].to_numpy()
    rsg_flux = np.zeros_like(cl_flux)
    if rsg.any():
        rsg_flux[rsg] = ssp.count_rate(
            clusters.rsg_mags_ab(pop["rsg_mv_vega"].to_numpy()[rsg], pop["ebv"].to_numpy()[rsg],
                                 info.distance_mpc, p)
        )
    return dict(
        p=p, info=info, pcpp=pcpp, layout=lay, wcs=wcs, truth=truth, bg=bg, lanes=lanes,
        nebulae=nebulae, neb_flux=neb_flux, neighbours=nb, nb_flux=nb_flux, stars=stars,
        st_flux=st_flux, cl_flux=cl_flux, rsg_flux=rsg_flux, r_cat=r_cat, r_img=r_img,
        sed_errors=sed_errors.truth_file(truth, planted), axis_ratio=axis_ratio, theta=theta,
        young_stars=young_stars, ys_flux=ys_flux, companions=comp, comp_flux=comp_flux,
    )


def measured_flux(sim: dict) -> np.ndarray:
    """(N, 5) light of each cluster that its catalog photometry measures: the cluster, its red
    supergiant, and its resolved young stars that fall within the catalog's aperture."""
    flux = sim["cl_flux"] + sim["rsg_flux"]
    ys = sim["young_stars"]
    if len(ys):
        inside = np.hypot(ys["dx"].to_numpy(), ys["dy"].to_numpy()) <= catalog.APERTURE_RADIUS_PX
        flux = flux.copy()
        np.add.at(flux, ys["cluster"].to_numpy()[inside], sim["ys_flux"][inside])
    return flux


def _donor_pool(rng, pop: pd.DataFrame, info, p: dict) -> pd.DataFrame:
    """Clusters that lend their environment to the others (those not keeping their own).

    "survey": a fresh population drawn from the ages of the whole reference sample, so that the
    environment carries no age information even across galaxies (whose age distributions
    differ); "galaxy": this galaxy's own clusters, shuffled.
    """
    n = len(pop)
    if p["env_donor_pool"] == "galaxy":
        return pop.iloc[rng.permutation(n)].reset_index(drop=True)
    ages = clusters.draw_log_ages(rng, reference.log_ages(None), n, p)
    return clusters.make_population(rng, ages, info.distance_mpc, p)


def _eff_half(a_px: np.ndarray) -> np.ndarray:
    """Stamp half-size holding ~97% of an EFF profile's light (1 - a/h), at most 32 px."""
    return render.bucket(np.clip(30.0 * a_px, 6.0, 32.0))


def _deposit_eff(layers, x, y, a_px, flux, axis_ratio=None, theta=None):
    """EFF stamps; those with an axis ratio below 1 elliptical (their major axis sets the
    stamp size), the rest round by the original code path."""
    round_ = np.ones(len(x), bool) if axis_ratio is None else axis_ratio >= 1.0
    half = _eff_half(a_px)
    for h in np.unique(half[round_]):
        s = round_ & (half == h)
        render.deposit(layers, x[s], y[s], flux[s], int(h), render.eff_stamps, a_px[s])
    if round_.all():
        return
    flat = ~round_
    half = _eff_half(a_px / np.sqrt(axis_ratio))
    for h in np.unique(half[flat]):
        s = flat & (half == h)
        render.deposit(layers, x[s], y[s], flux[s], int(h), render.eff_stamps_elliptical,
                       a_px[s], axis_ratio[s], theta[s])


def render_compact(sim: dict) -> list[np.ndarray]:
    """Clusters, neighbours, nebulae, supergiants and field stars, before the PSF."""
    lay, truth = sim["layout"], sim["truth"]
    layers = [np.zeros(lay.shape, np.float32) for _ in range(5)]
    x, y = truth["x"].to_numpy(), truth["y"].to_numpy()
    _deposit_eff(layers, x, y, truth["a_px"].to_numpy(), sim["cl_flux"], sim["axis_ratio"],
                 sim["theta"])

    for sources, flux in ((sim["neighbours"], sim["nb_flux"]), (sim["companions"], sim["comp_flux"])):
        if len(sources):
            o = sources["cluster"].to_numpy()
            _deposit_eff(layers, x[o] + sources["dx"].to_numpy(), y[o] + sources["dy"].to_numpy(),
                         sources["a_px"].to_numpy(), flux)

    neb = sim["nebulae"]
    if len(neb):
        o = neb["cluster"].to_numpy()
        size = np.maximum(neb["size_px"].to_numpy(), 0.5)
        compact = neb["compact"].to_numpy()
        half = np.where(compact, render.bucket(np.minimum(3.5 * size, 128)),
                        render.bucket(np.minimum(size + 2, 128)))
        for kind, maker in ((True, render.gaussian_stamps), (False, render.shell_stamps)):
            for h in np.unique(half[compact == kind]):
                s = (compact == kind) & (half == h)
                render.deposit(layers, x[o][s], y[o][s], sim["neb_flux"][s], int(h), maker, size[s])

    rng = sim["r_img"]
    rsg = truth["rsg"].to_numpy()
    if rsg.any():
        a = truth["a_px"].to_numpy()[rsg]
        render.deposit_points(layers, x[rsg] + rng.normal(0, 1, rsg.sum()) * a,
                              y[rsg] + rng.normal(0, 1, rsg.sum()) * a, sim["rsg_flux"][rsg])
    st = sim["stars"]
    if len(st):
        o = st["cluster"].to_numpy()
        render.deposit_points(layers, x[o] + st["dx"].to_numpy(), y[o] + st["dy"].to_numpy(),
                              sim["st_flux"])
    ys = sim["young_stars"]
    if len(ys):
        o = ys["cluster"].to_numpy()
        render.deposit_points(layers, x[o] + ys["dx"].to_numpy(), y[o] + ys["dy"].to_numpy(),
                              sim["ys_flux"])
    return layers


def background_maps(sim: dict):
    """Coarse maps of each band's diffuse intensity and of the clumpiness sigma: each cluster's
    own surroundings, blended with Gaussian weights where surroundings meet."""
    lay, truth, p = sim["layout"], sim["truth"], sim["p"]
    cshape = (lay.shape[0] // _COARSE + 2, lay.shape[1] // _COARSE + 2)
    maps = [np.zeros(cshape) for _ in range(7)]
    sig = p["background_blend_px"] / _COARSE
    sigma = truth["clump_sigma"].to_numpy()
    weights = np.column_stack([np.ones(len(truth)), sim["bg"], sigma])
    h = int(render.bucket(min(3.0 * sig, 128)))
    render.deposit(maps, truth["x"].to_numpy() / _COARSE, truth["y"].to_numpy() / _COARSE,
                   weights, h, _gauss_weights, np.full(len(truth), sig))
    # A weak floor of the survey-average surroundings where no cluster reaches.
    floor = 1e-3
    w = maps[0] + floor
    band_maps = [(maps[1 + b] + floor * sim["bg"][:, b].mean()) / w for b in range(5)]
    sigma_map = (maps[6] + floor * sigma.mean()) / w
    return band_maps, sigma_map


def _gauss_weights(fx, fy, sigma, h):
    d = np.arange(-h, h + 1)
    dx = d[None, None, :] - fx[:, None, None]
    dy = d[None, :, None] - fy[:, None, None]
    return np.exp(-(dx * dx + dy * dy) / (2.0 * sigma[:, None, None] ** 2))


def dust_map(sim: dict, texture: np.ndarray) -> np.ndarray:
    """A_V of the dust lanes, with a clumpy texture (1 + t G), clipped at zero."""
    lay, truth, lanes, p = sim["layout"], sim["truth"], sim["lanes"], sim["p"]
    av = [np.zeros(lay.shape, np.float32)]
    if len(lanes):
        o = lanes["cluster"].to_numpy()
        width = np.maximum(lanes["width_px"].to_numpy(), 0.5)
        length = lanes["length_px"].to_numpy()
        half = render.bucket(np.minimum(np.maximum(2.5 * length, 3 * width), 128))
        x, y = truth["x"].to_numpy()[o], truth["y"].to_numpy()[o]
        for h in np.unique(half):
            s = half == h
            render.deposit(av, x[s], y[s], lanes["a0"].to_numpy()[s, None], int(h),
                           render.lane_stamps, lanes["theta"].to_numpy()[s],
                           lanes["offset_px"].to_numpy()[s], width[s], length[s])
    return av[0] * np.clip(1.0 + p["dust_lane_texture"] * texture, 0.0, None)


def write_galaxy(data_dir: Path, target: str, params: dict, files) -> pd.DataFrame:
    """Write the five mosaics, the catalogs and the truth table of one synthetic galaxy.

    Same (seed, target, params) -> byte-identical files. Returns the per-cluster truth.
    """
    data_dir = Path(data_dir)
    if files.target != target:
        raise ValueError(f"GalaxyFiles is for {files.target!r}, not for target {target!r}")
    sim = simulate(target, params)
    p, lay, truth = sim["p"], sim["layout"], sim["truth"]
    rng = sim["r_img"]

    layers = render_compact(sim)
    band_maps, sigma_map = background_maps(sim)
    clump_px = p["clump_scale_pc"] / sim["pcpp"]
    g = render.gaussian_random_field(rng, lay.shape, clump_px, p["clump_power_slope"])
    s = render.upsample(sigma_map.astype(np.float32), _COARSE, lay.shape)
    clump = np.exp(s * g - 0.5 * s * s)
    del g, s
    texture = render.gaussian_random_field(rng, lay.shape, clump_px, p["clump_power_slope"])
    av = dust_map(sim, texture)
    del texture
    k = ssp.extinction_k(p["extinction_law"])
    conv = render.Convolver(lay.shape, render.moffat_kernel(p["psf_fwhm_px"], p["psf_beta"]))
    nm = ssp.noise_model()
    sky = nm[f"sky_{p['sky_level']}_eps_px"].to_numpy(float) + nm["dark_eps_px"].to_numpy(float)
    header_wcs = sim["wcs"].to_header()
    for b in range(5):
        diffuse = render.upsample(band_maps[b].astype(np.float32), _COARSE, lay.shape)
        diffuse *= clump
        diffuse *= np.power(np.float32(10.0), np.float32(-0.4 * k[b]) * av)
        layers[b] += diffuse
        del diffuse
        image = conv(layers[b])
        layers[b] = None
        image = _add_noise(rng, image, sky[b], p["exptime_s"][b], p["n_exposures"][b],
                           p["read_noise"], p["drizzle_correlated_noise"])
        fp = np.zeros(lay.shape, bool)
        fp[lay.on_footprint(b)] = True
        image[~fp] = 0.0
        _write_image(data_dir / files.image_relpath(b), image, b, files, target, p, header_wcs)
        del image

    table = catalog.build_tables(sim["r_cat"], truth, measured_flux(sim), p)
    catalog.write_catalogs(data_dir, files, table)
    out = truth_table(truth)
    with atomic_path(data_dir / f"synthetic-truth/{target}.csv") as tmp:
        out.to_csv(tmp, index=False)
    # The known answer of the disagreement catalog; no rule of the workflow reads it.
    with atomic_path(data_dir / sed_errors_relpath(target)) as tmp:
        sim["sed_errors"].to_csv(tmp, index=False)
    return out


def sed_errors_relpath(target: str) -> str:
    """Where write_galaxy lists a galaxy's planted SED errors, relative to the data folder."""
    return f"synthetic-truth/sed_errors/{target}.csv"


def truth_table(truth: pd.DataFrame) -> pd.DataFrame:
    first = ["galaxy", "cluster_id", "cluster_class", "x", "y", "ra", "dec", "log_age",
             "age_myr", "mass", "mass_formed", "ebv", "metallicity", "reff_pc", "a_px",
             "full_coverage", "edge", "group"]
    hidden = ("z_index", "env_z_index", "env_donor", "sed_log_age", "sed_ebv", "sed_mass")
    rest = [c for c in truth.columns if c not in first and c not in hidden]
    return truth[first + rest].sort_values("cluster_id").reset_index(drop=True)


def _add_noise(rng, image, sky, exptime, n_exp, read_noise, correlated):
    """Poisson-like noise of source + sky + dark over the exposure, plus read noise (e-/s)."""
    var = (np.clip(image, 0, None) + np.float32(sky)) * np.float32(exptime) + np.float32(
        n_exp * read_noise**2
    )
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    if correlated:
        noise = render.smooth3x3(noise)
    noise *= np.sqrt(var) / np.float32(exptime)
    image += noise
    return image


def _write_image(path, image, band, files, target, p, header_wcs):
    hdr = fits.Header()
    hdr["TELESCOP"] = "HST"
    hdr["INSTRUME"] = files.instruments[band].upper()
    hdr["FILTER"] = files.filters[band].upper()
    hdr["TARGNAME"] = target.upper()
    hdr["BUNIT"] = ("ELECTRONS/S", "brightness units")
    hdr["EXPTIME"] = (float(p["exptime_s"][band]), "exposure time (s)")
    hdr["PHOTFLAM"] = (float(ssp.photflam()[band]), "inverse sensitivity, erg/s/cm2/A per e-/s")
    hdr["PHOTPLAM"] = (float(ssp.PIVOT_ANGSTROM[band]), "pivot wavelength (Angstrom)")
    hdr["PHOTZPT"] = (-21.10, "ST magnitude zero point")
    hdr["ABZPT"] = (float(ssp.zero_points_ab()[band]), "AB zero point (mag for 1 e-/s)")
    hdr["ORIGIN"] = "clusterage.synthetic"
    hdr["SYNSEED"] = (int(p["seed"]), "synthetic survey seed")
    hdr["SYNENVST"] = (float(p["env_strength"]), "synthetic env_strength")
    hdr.extend(header_wcs, update=True)
    with atomic_path(path) as tmp:
        fits.PrimaryHDU(data=image.astype(np.float32, copy=False), header=hdr).writeto(tmp)
