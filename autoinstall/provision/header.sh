#!/bin/bash
# seedbed provisioning steps: the same script serves the autoinstall
# late-commands (in the target chroot) and the Packer golden image.
set -euo pipefail
# SEEDBED_VENDOR_REPOS=no skips the steps that need Docker's and NVIDIA's repositories:
# set only by the golden image's Debian test build, which cannot reach them. Said loudly.
vendor_repos() {
  if [ "${SEEDBED_VENDOR_REPOS:-yes}" = no ]; then
    echo "seedbed: SEEDBED_VENDOR_REPOS=no: NOT installing $1 (vendor repository not used)" >&2
    return 1
  fi
}
