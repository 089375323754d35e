# Provision, clean up, publish: the same steps for every source.
build {
  sources = ["source.qemu.ubuntu", "source.qemu.debian"]

  # The same steps the autoinstall late-commands run: `seedbed render provision --image`
  # (autoinstall/provision/*.sh with the SEEDBED_* settings for every driver).
  provisioner "shell" {
    script           = var.provision_script
    environment_vars = var.provision_env
    execute_command  = "sudo -E env {{ .Vars }} bash '{{ .Path }}'"
  }

  # Make it a template, not a machine: clones get their own identity on first boot.
  provisioner "shell" {
    script          = "${path.root}/../scripts/cleanup.sh"
    execute_command = "sudo -E env {{ .Vars }} sh '{{ .Path }}'"
  }

  # On the build host: qcow2 -> raw -> zstd, and the sha256 the deploy ramdisk checks.
  post-processor "shell-local" {
    script = "${path.root}/../scripts/publish.sh"
    environment_vars = [
      "OUTPUT_DIR=${var.output_directory}",
      "IMAGE_NAME=${var.image_name}",
      "ZSTD_LEVEL=${var.zstd_level}",
    ]
  }
}
