"""The local testbed: Docker containers with systemd and sshd, reached over SSH."""
