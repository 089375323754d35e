# Inputs of the golden image build. `python -m seedbed.deploy.golden` (make image)
# sets the ones marked "set by the build"; the defaults describe the Ubuntu build.

variable "iso_url" {
  type        = string
  default     = "https://releases.ubuntu.com/20.04.6/ubuntu-20.04.6-live-server-amd64.iso"
  description = "Ubuntu 20.04 live-server ISO (URL or local path)."
}

variable "iso_checksum" {
  type    = string
  default = "sha256:b8f31413336b9393ad5d8ef0282717b2ab19f007df2e9ed5196c13d8f9153c8b"
}

variable "base_disk" {
  type        = string
  default     = ""
  description = "debian source only: the bookworm base disk (disk_image = true)."
}

variable "base_disk_checksum" {
  type    = string
  default = "none"
}

variable "http_directory" {
  type        = string
  default     = "build/image/http"
  description = "Set by the build: user-data/meta-data from `seedbed render user-data --image`."
}

variable "build_user" {
  type        = string
  default     = "seedbed-build"
  description = "Throwaway user Packer logs in as; deleted by the shutdown command."
}

variable "build_key" {
  type        = string
  default     = "build/image/build_key"
  description = "Set by the build: private half of the throwaway key trusted by the build VM."
}

variable "provision_script" {
  type        = string
  default     = "build/image/provision.sh"
  description = "Set by the build: `seedbed render provision --image` (autoinstall/provision/*.sh)."
}

variable "provision_env" {
  type        = list(string)
  default     = []
  description = "Extra NAME=VALUE for the provisioning steps, e.g. SEEDBED_VENDOR_REPOS=no."
}

variable "output_directory" {
  type    = string
  default = "build/image/output"
}

variable "serial_log" {
  type    = string
  default = "build/image/serial.log"
}

variable "image_name" {
  type    = string
  default = "seedbed-golden"
}

variable "disk_size" {
  type    = string
  default = "20G"
}

variable "memory" {
  type    = number
  default = 4096
}

variable "cpus" {
  type    = number
  default = 2
}

variable "accelerator" {
  type        = string
  default     = "tcg"
  description = "tcg everywhere; kvm where Linux guests run under it."
}

variable "ovmf" {
  type    = string
  default = "/usr/share/ovmf/OVMF.fd"
}

variable "ssh_timeout" {
  type        = string
  default     = "150m"
  description = "The whole ISO install and its security-update pass (an hour or more with a 2023 ISO); the live sshd rejects Packer until the reboot."
}

variable "zstd_level" {
  type    = number
  default = 10
}
