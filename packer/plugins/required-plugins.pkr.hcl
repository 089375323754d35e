# Only for Packer 1.10 and newer, which no longer bundles the qemu builder.
# Packer 1.6.6 (Debian bookworm) rejects this block: never give it this file.
# `python -m seedbed.deploy.golden` (make image) copies it beside packer/golden/*.pkr.hcl
# and runs `packer init` when it finds a newer Packer.
packer {
  required_version = ">= 1.10.0"
  required_plugins {
    qemu = {
      source  = "github.com/hashicorp/qemu"
      version = ">= 1.1.0"
    }
  }
}
