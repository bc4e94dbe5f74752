#!/bin/sh
# Runs inside the debootstrapped root (chroot) to turn it into a testbed host image:
# systemd as PID 1, sshd with per-container host keys, nothing that phones out on a timer.
# Any change to this file changes the image tag, so the image is rebuilt.
set -eu

cat > /etc/apt/sources.list <<'SRC'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC

# Host keys are made at first boot, so no two containers share one.
rm -f /etc/ssh/ssh_host_*
cat > /etc/systemd/system/pilotstack-hostkeys.service <<'UNIT'
[Unit]
Description=Generate this host's SSH host keys (pilotstack testbed)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
RequiredBy=ssh.service
UNIT
systemctl enable pilotstack-hostkeys.service ssh.service

mkdir -p /etc/ssh/sshd_config.d /root/.ssh
chmod 0700 /root/.ssh
cat > /etc/ssh/sshd_config.d/10-pilotstack.conf <<'SSHD'
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
SSHD

# Units that make no sense in a container, or that would run apt or disk jobs behind
# the deployment's back.
for unit in getty.target console-getty.service systemd-remount-fs.service \
    sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
    systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer; do
  systemctl mask "$unit"
done
systemctl set-default multi-user.target

# An empty machine-id makes systemd create a fresh one in every container.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/* /var/tmp/*
