"""The tier registry (module_utils/pilotstack_tiers.py) for playbooks: the tier gate
refuses a tier name the registry does not know instead of silently never matching it."""

from __future__ import annotations

from pathlib import Path

import ansible.module_utils
from ansible.errors import AnsibleFilterError

_DIR = str(Path(__file__).resolve().parents[1] / "module_utils")
if _DIR not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_DIR)

from ansible.module_utils import pilotstack_tiers as REGISTRY  # noqa: E402, N812


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
