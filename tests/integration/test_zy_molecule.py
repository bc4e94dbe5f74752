"""Molecule's whole-site scenario (molecule/default), in the full profile, on the testbed the
suite deployed: syntax, create (finds the testbed up), converge (site.yml), idempotence
(a second converge changes nothing) and verify. Its destroy step is test_zz_down's job."""

from __future__ import annotations

import os
import subprocess

import pytest

from .conftest import BIN, ENV, ROOT


@pytest.mark.full
@pytest.mark.parametrize("step", ["syntax", "create", "converge", "idempotence", "verify"])
def test_molecule_scenario_step(stack, step):
    env = dict(ENV, PATH=f"{BIN}{os.pathsep}{ENV.get('PATH', '')}")
    proc = subprocess.run([str(BIN / "molecule"), step, "--scenario-name", "default"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    if step == "idempotence":
        assert "idempotence: Executed: Successful" in out, out[-3000:]
