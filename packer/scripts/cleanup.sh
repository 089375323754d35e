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
# >>> grub-defaults: curtin copies the installer's arguments after ` --- ` into GRUB's
# defaults; none of the build's (autoinstall, its seed) may reach a clone's boot line.
GRUB_DEFAULTS="${GRUB_DEFAULTS:-/etc/default/grub}"
if [ -f "$GRUB_DEFAULTS" ]; then
  # Each pattern twice: neighbouring arguments share the space between them.
  sed -i -E '/^GRUB_CMDLINE_LINUX/{
    s/(^|[ "=])(autoinstall|ds=nocloud-net[^ "]*|cloud-config-url=[^ "]*)( |")/\1\3/g
    s/(^|[ "=])(autoinstall|ds=nocloud-net[^ "]*|cloud-config-url=[^ "]*)( |")/\1\3/g
    s/  +/ /g; s/=" /="/; s/ "$/"/
  }' "$GRUB_DEFAULTS"
  if [ "$GRUB_DEFAULTS" = /etc/default/grub ] && command -v update-grub > /dev/null; then
    update-grub
  fi
fi
# <<< grub-defaults
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
