#!/bin/sh
# The testbed's vault password, for Ansible runs started by molecule.
cat "$(dirname "$0")/../../inventory/testbed/.vault_pass"
