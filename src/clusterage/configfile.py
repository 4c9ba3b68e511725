"""The workflow's config in the order of precedence a user expects, lowest first: the schema's
defaults, config/config.yaml, a Snakemake profile's ``config:``, each ``--configfile``, then
``--config`` on the command line.

Snakemake itself applies a profile's ``config:`` as if it were ``--config``: after every config
file, so a user's ``--configfile`` could not change what the profile sets, and a ``--config``
replaced the profile's whole list. The workflow (workflow/rules/common.smk) puts the profile's
layer back under the user's files with :func:`layered`; ``clusterage plan`` reads the config the
same way (:func:`load_config`).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

DEFAULT_CONFIG = "config/config.yaml"
SCHEMA = "workflow/schemas/config.schema.yaml"


def _merge(base: dict, over: dict) -> dict:
    """Snakemake's --configfile semantics: nested mappings merge, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def layered(base: dict, profile: dict, configfiles: list[dict], command_line: dict) -> dict:
    """The config in the expected order: ``base`` (the workflow's own config files), the profile's
    ``config:``, the user's config files in their order, then ``--config``."""
    config = _merge(base, profile)
    for over in configfiles:
        config = _merge(config, over)
    return _merge(config, command_line)


def relayered(own_files: list, profile: dict, user_files: list, command_line: dict) -> dict:
    """:func:`layered` over the files themselves: the workflow's own config files (its
    ``configfile:``), the profile's ``config:``, the user's ``--configfile`` files in their order,
    then ``--config``; files read as Snakemake reads them (YAML or JSON)."""
    from snakemake.common.configfile import load_configfile

    base: dict = {}
    for path in own_files:
        base = _merge(base, load_configfile(path))
    return layered(base, profile, [load_configfile(f) for f in user_files], command_line)


def at_paths_of(config: dict, *shapes: dict) -> dict:
    """``config``'s values at exactly the keys the ``shapes`` set (nested mappings followed to
    their leaves): what the jobs are sent with --config, whose nested values Snakemake reads back
    as strings, so no key the user did not set travels that way."""
    out: dict = {}
    for shape in shapes:
        for key, value in shape.items():
            if key not in config:
                continue
            if isinstance(value, dict) and isinstance(config[key], dict):
                out[key] = _merge(out.get(key, {}), at_paths_of(config[key], value))
            else:
                out[key] = config[key]
    return out


def command_line_args(mapping: dict) -> list[str]:
    """``key=value`` items for Snakemake's --config that read back as the same values (strings as
    they are, mappings in YAML's flow style) and hold no quote, so that a job's command survives
    any level of shell quoting (snakemake-executor-plugin-slurm 2.8.0 puts a job array's command
    inside --wrap="...", which the double quotes of Snakemake's own "key='value'" cut short)."""
    def text(value) -> str:
        if isinstance(value, bool):
            return str(value)  # Snakemake reads back True / False only
        if isinstance(value, (dict, list)):
            return yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
        return str(value)

    return [f"{key}={text(value)}" for key, value in mapping.items()]


def _resolve(directory: Path, path) -> Path:
    path = Path(path)
    return path if path.is_absolute() or path.exists() else directory / path


def load_profile(directory: Path, profile: str | None) -> dict:
    """A Snakemake profile's settings (its config.yaml); {} without a profile."""
    if not profile:
        return {}
    path = _resolve(directory, profile) / "config.yaml"
    if not path.exists():
        raise SystemExit(f"clusterage: profile file {path} not found")
    return yaml.safe_load(path.read_text()) or {}


def profile_config(settings: dict, where: str = "the profile") -> dict:
    """A profile's ``config:`` as a mapping (Snakemake accepts a mapping or ``key=value`` items)."""
    block = settings.get("config") or {}
    if isinstance(block, dict):
        return block
    if isinstance(block, (list, tuple)):
        from snakemake.cli import parse_config

        return parse_config(list(block))
    raise ValueError(f"{where}: `config:` must be a mapping or a list of key=value items")


def _option_values(argv: list[str], names: tuple[str, ...]) -> list[list[str]]:
    """Each occurrence of an option among ``names`` with the values that follow it."""
    found, current = [], None
    for token in argv[1:]:
        name, eq, value = token.partition("=")
        if name in names:
            current = [value] if eq else []
            found.append(current)
        elif token.startswith("-") and not token.lstrip("-").replace(".", "").isdigit():
            current = None
        elif current is not None:
            current.append(token)
    return found


def command_line_profile(argv: list[str], environ=None) -> tuple[dict, str | None]:
    """The ``config:`` that Snakemake took from the profiles of this command line (``--profile``,
    else $SNAKEMAKE_PROFILE; then ``--workflow-profile``; a later one replaces an earlier one's
    ``config:`` as in Snakemake), found the way Snakemake finds profiles; and the profile's path."""
    from snakemake.cli import get_profile_dir

    environ = os.environ if environ is None else environ
    # Each of these options takes one value (what follows it may be a target).
    names = [values[0] for values in _option_values(argv, ("--profile",)) if values]
    if not names and environ.get("SNAKEMAKE_PROFILE"):
        names = [environ["SNAKEMAKE_PROFILE"]]
    names += [values[0] for values in _option_values(argv, ("--workflow-profile",))
              if values and values[0] != "none"]
    block, source = {}, None
    for name in names:
        found = get_profile_dir(name)
        if found is None:
            continue
        settings = yaml.safe_load(Path(found[1]).read_text()) or {}
        if "config" in settings:
            block, source = profile_config(settings, str(found[1])), str(found[1])
    return block, source


def command_line_gives_config(argv: list[str]) -> bool:
    """Whether ``--config`` (or ``-C``) is on the command line itself, not only in a profile."""
    return bool(_option_values(argv, ("--config", "-C")))


def load_config(directory: Path, configfiles: list[str], profile: dict | None = None) -> dict:
    """config/config.yaml, the profile's ``config:``, then each config file; validated, with the
    schema's defaults."""
    files: list[dict] = []
    for path in [directory / DEFAULT_CONFIG, *configfiles]:
        path = _resolve(directory, path)
        if not path.exists():
            raise SystemExit(f"clusterage: config file {path} not found")
        files.append(yaml.safe_load(path.read_text()) or {})
    try:
        block = profile_config(profile or {})
    except ValueError as exc:
        raise SystemExit(f"clusterage: {exc}") from None
    config = layered(files[0], block, files[1:], {})
    schema = directory / SCHEMA
    if not schema.exists():
        raise SystemExit(f"clusterage: {schema} not found; run from the workflow's folder or give --directory")
    from snakemake.utils import validate  # the workflow's own validation, defaults included

    try:
        validate(config, str(schema))
    except Exception as exc:  # snakemake's WorkflowError, naming the key
        raise SystemExit(f"clusterage: config error: {exc}") from None
    return config
