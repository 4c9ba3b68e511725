"""Every rule writes a log: on a cluster, a job's log file is where its error is found."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rules_without_log(workdir: Path, *args: str) -> list[str]:
    """Rules that `snakemake --lint` reports as having no log directive."""
    # Snakemake 9.27 prints text lints whatever --lint's argument (its JSON mode is ignored).
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint", *args], cwd=workdir,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert "Lints for" in out or "Congratulations" in out, f"snakemake --lint failed:\n{out[-3000:]}"
    missing, rule = [], None
    for line in out.splitlines():
        if m := re.match(r"Lints for rule (\w+) ", line):
            rule = m.group(1)
        elif line.startswith("Lints for"):
            rule = None
        elif rule and line.strip().startswith("* No log directive defined"):
            missing.append(rule)
    return missing


def test_check_finds_a_rule_without_log(tmp_path):
    (tmp_path / "Snakefile").write_text(
        'rule all:\n    input: "a", "b"\n'
        'rule with_log:\n    output: "a"\n    log: "a.log"\n    shell: "touch {output} 2> {log}"\n'
        'rule without_log:\n    output: "b"\n    shell: "touch {output}"\n')
    assert rules_without_log(tmp_path) == ["without_log"]


def test_every_workflow_rule_has_a_log():
    assert rules_without_log(REPO, "--configfile", "tests/configs/tiny.yaml") == [], (
        "add a `log:` to these rules (see docs/slurm.md)")
