#!/bin/sh
# The testbed's vault password, for Ansible runs started by molecule. The secrets are made
# on first use (`pilotstack secrets` never overwrites a value).
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$root/inventory/testbed"
pilotstack secrets >/dev/null
cat "$root/inventory/testbed/.vault_pass"
