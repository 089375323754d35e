# Two ways to the same golden image, both UEFI (OVMF through qemuargs: Packer 1.6.6
# has no firmware/efi_boot options):
#   ubuntu  the Ubuntu 20.04 live-server ISO installed by autoinstall (make image)
#   debian  a Debian bookworm base disk (disk_image = true), what the test suite builds
# Both end up in the same build block: the same provisioning, cleanup and outputs.

locals {
  qemuargs = [
    ["-bios", var.ovmf],
    ["-serial", "file:${var.serial_log}"],
  ]
  # The build user goes last, with the machine: nothing of it stays in the image.
  shutdown_command = "sudo sh -c 'rm -f /etc/sudoers.d/90-seedbed-build; userdel --force --remove \"$SUDO_USER\"; shutdown -P now'"
}

source "qemu" "ubuntu" {
  iso_url        = var.iso_url
  iso_checksum   = var.iso_checksum
  http_directory = var.http_directory
  boot_wait      = "5s"
  # The ISO's GRUB (5 s menu: hence KVM only, see seedbed.deploy.golden.preflight): edit
  # the first entry's linux line (setparams, blank, set gfxpayload, linux), which ends in
  # `---`. The installer's arguments go before it: curtin copies what follows `---` into
  # the installed system's GRUB defaults.
  boot_command = [
    "<esc><wait>",
    "e<wait>",
    "<down><down><down><end>",
    "<bs><bs><bs>",
    " autoinstall ds=nocloud-net\\;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ ---",
    "<f10>",
  ]

  vm_name          = "${var.image_name}.qcow2"
  output_directory = var.output_directory
  format           = "qcow2"
  disk_size        = var.disk_size
  disk_interface   = "virtio"
  disk_cache       = "unsafe" # a throwaway build VM: no host fsync per guest fsync
  net_device       = "virtio-net"
  accelerator      = var.accelerator
  memory           = var.memory
  cpus             = var.cpus
  headless         = true
  qemuargs         = local.qemuargs

  communicator           = "ssh"
  ssh_username           = var.build_user
  ssh_private_key_file   = var.build_key
  ssh_timeout            = var.ssh_timeout
  ssh_handshake_attempts = 500
  shutdown_command       = local.shutdown_command
  shutdown_timeout       = "15m"
}

source "qemu" "debian" {
  iso_url          = var.base_disk
  iso_checksum     = var.base_disk_checksum
  disk_image       = true
  use_backing_file = false
  skip_resize_disk = true
  skip_compaction  = true
  boot_wait        = "1s"

  vm_name          = "${var.image_name}.qcow2"
  output_directory = var.output_directory
  format           = "qcow2"
  disk_interface   = "virtio"
  disk_cache       = "unsafe" # a throwaway build VM: no host fsync per guest fsync
  net_device       = "virtio-net"
  accelerator      = var.accelerator
  memory           = var.memory
  cpus             = var.cpus
  headless         = true
  qemuargs         = local.qemuargs

  communicator           = "ssh"
  ssh_username           = var.build_user
  ssh_private_key_file   = var.build_key
  ssh_timeout            = var.ssh_timeout
  ssh_handshake_attempts = 500
  shutdown_command       = local.shutdown_command
  shutdown_timeout       = "5m"
}
