#!/bin/sh
# Last provisioning step of the golden image: make it a template, not a machine.
# Every clone must get its own identity on first boot: machine-id, SSH host keys,
# a fresh cloud-init instance. (The shutdown command then deletes the build user.)
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get -y -q clean
rm -rf /var/lib/apt/lists/*
# Network and datasource settings of the build VM, from the Ubuntu installer or the
# Debian test base: a clone's first boot writes its own.
rm -f /etc/netplan/00-installer-config.yaml \
  /etc/cloud/cloud.cfg.d/99-installer.cfg \
  /etc/cloud/cloud.cfg.d/subiquity-disable-cloudinit-networking.cfg \
  /etc/network/interfaces.d/60-seedbed-build
cloud-init clean --logs --seed
rm -f /etc/ssh/ssh_host_*
# An empty (not missing) machine-id: systemd generates one on the clone's first boot.
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id
rm -f /var/lib/systemd/random-seed
journalctl --rotate > /dev/null 2>&1 || true
journalctl --vacuum-time=1s > /dev/null 2>&1 || true
find /var/log -type f -exec truncate -s 0 {} +
rm -rf /tmp/* /var/tmp/* /root/.bash_history
sync
echo "seedbed cleanup: machine-id emptied, host keys removed, cloud-init cleaned"
