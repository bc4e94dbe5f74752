"""Make the project's Ansible plugins importable the way Ansible imports them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import ansible.module_utils

ROOT = Path(__file__).resolve().parents[1]
# Custom module_utils are imported by modules as ansible.module_utils.<name>.
ansible.module_utils.__path__.append(str(ROOT / "module_utils"))


def load_plugin(kind: str, name: str):
    """Import library/<name>.py or filter_plugins/<name>.py as a module."""
    path = ROOT / kind / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"pilotstack_test_{kind}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
