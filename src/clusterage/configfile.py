"""The workflow's config as Snakemake reads it, for the commands that run outside Snakemake:
config/config.yaml with each --configfile laid over it key by key, then a profile's own
``config:``, validated and completed with the schema's defaults."""

from __future__ import annotations

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


def load_config(directory: Path, configfiles: list[str], profile: dict | None = None) -> dict:
    config: dict = {}
    for path in [directory / DEFAULT_CONFIG, *configfiles]:
        path = _resolve(directory, path)
        if not path.exists():
            raise SystemExit(f"clusterage: config file {path} not found")
        config = _merge(config, yaml.safe_load(path.read_text()) or {})
    config = _merge(config, (profile or {}).get("config") or {})
    schema = directory / SCHEMA
    if not schema.exists():
        raise SystemExit(f"clusterage: {schema} not found; run from the workflow's folder or give --directory")
    from snakemake.utils import validate  # the workflow's own validation, defaults included

    try:
        validate(config, str(schema))
    except Exception as exc:  # snakemake's WorkflowError, naming the key
        raise SystemExit(f"clusterage: config error: {exc}") from None
    return config
