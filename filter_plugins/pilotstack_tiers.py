"""The tier registry (module_utils/pilotstack_tiers.py) for playbooks: the tier gate
refuses a tier name the registry does not know instead of silently never matching it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # unit tests without Ansible
    AnsibleFilterError = ValueError

_PATH = Path(__file__).resolve().parents[1] / "module_utils" / "pilotstack_tiers.py"
_SPEC = importlib.util.spec_from_file_location("pilotstack_tiers_for_filters", _PATH)
REGISTRY = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(REGISTRY)


def pilotstack_known_tiers(names) -> list[str]:
    """`names`, unchanged, when every one is a registered tier; an error naming the
    unknown ones and the registry's otherwise."""
    unknown = REGISTRY.unknown(names)
    if unknown:
        raise AnsibleFilterError(
            f"unknown tier(s) {unknown} (tier_gate_tiers or pilotstack_disabled_tiers); the "
            f"tier registry knows {list(REGISTRY.TIERS)}")
    return list(names)


class FilterModule:
    def filters(self):
        return {"pilotstack_known_tiers": pilotstack_known_tiers}
