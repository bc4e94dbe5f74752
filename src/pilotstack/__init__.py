"""pilotstack: deploy and operate a highly available OpenStack cloud with Ansible."""

__version__ = "0.1.0"
