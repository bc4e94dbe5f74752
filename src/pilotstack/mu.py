"""The one bridge from the pilotstack package to the project's module_utils.

The roles' modules import the shared rules as `ansible.module_utils.pilotstack_*` (Ansible
ships them to the hosts). `status`, the CLI and the drills use the same files through
this module, so a health rule or the tier registry exists once:

    from pilotstack.mu import galera_mu, tiers_mu
"""

from __future__ import annotations

import ansible.module_utils

from . import paths

_DIR = str(paths.project_root() / "module_utils")
if _DIR not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_DIR)

from ansible.module_utils import pilotstack_ceph as ceph_mu  # noqa: E402
from ansible.module_utils import pilotstack_galera as galera_mu  # noqa: E402
from ansible.module_utils import pilotstack_gluster as gluster_mu  # noqa: E402
from ansible.module_utils import pilotstack_haproxy as haproxy_mu  # noqa: E402
from ansible.module_utils import pilotstack_pacemaker as pcmk_mu  # noqa: E402
from ansible.module_utils import pilotstack_rabbitmq as mq_mu  # noqa: E402
from ansible.module_utils import pilotstack_tiers as tiers_mu  # noqa: E402

__all__ = ["ceph_mu", "galera_mu", "gluster_mu", "haproxy_mu", "mq_mu", "pcmk_mu",
           "tiers_mu"]
