#!/bin/bash
# seedbed provisioning steps: the same script serves the autoinstall
# late-commands (in the target chroot) and the Packer golden image.
set -euo pipefail
