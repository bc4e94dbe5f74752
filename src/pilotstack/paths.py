"""Where the project's files are. The CLI runs from a checkout (it drives its playbooks)."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    env = os.environ.get("PILOTSTACK_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "ansible.cfg").is_file() and (parent / "playbooks").is_dir():
            return parent
    return Path.cwd()


def state_dir() -> Path:
    """Per-machine state (keys, known_hosts, fact cache): never committed."""
    path = project_root() / ".pilotstack"
    path.mkdir(mode=0o700, exist_ok=True)
    return path
