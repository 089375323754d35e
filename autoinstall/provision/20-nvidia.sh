# NVIDIA driver (pinned branch) and the container toolkit; skipped on nodes without GPUs.
# The kernel modules are Canonical's signed prebuilt ones (they load with Secure Boot on;
# a DKMS build is signed by no key the firmware trusts), installed before the driver so
# that apt does not pull in nvidia-dkms.
if [ -n "${SEEDBED_NVIDIA_DRIVER:-}" ] && vendor_repos "the NVIDIA driver and toolkit"; then
  ubuntu_release "the NVIDIA driver"
  apt-get install -y -q "$SEEDBED_NVIDIA_MODULES"
  apt-get install -y -q "$SEEDBED_NVIDIA_DRIVER"
  curl -fsSL --retry 5 https://nvidia.github.io/libnvidia-container/gpgkey \
    | gpg --batch --yes --dearmor -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
  curl -fsSL --retry 5 https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list \
    | sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g' \
    > /etc/apt/sources.list.d/nvidia-container-toolkit.list
  apt-get update -q
  v="$SEEDBED_NVIDIA_TOOLKIT_VERSION"
  apt-get install -y -q "nvidia-container-toolkit=$v" "nvidia-container-toolkit-base=$v" \
    "libnvidia-container-tools=$v" "libnvidia-container1=$v"
  apt-mark hold nvidia-container-toolkit nvidia-container-toolkit-base \
    libnvidia-container-tools libnvidia-container1
fi
