# The sshd hardening (seedbed.firstboot.ssh, the one policy), in place before the first boot:
# the installed system and every golden-image clone start sshd with it. The first boot
# writes the same file again from the same policy.
install -m 0755 -d "$(dirname "$SEEDBED_SSHD_DROP_IN")"
printf '%s' "$SEEDBED_SSHD_CONFIG" > "$SEEDBED_SSHD_DROP_IN"
chmod 0644 "$SEEDBED_SSHD_DROP_IN"
