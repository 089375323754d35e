# NVIDIA driver (pinned) and the container toolkit; skipped on nodes without GPUs.
if [ -n "${SEEDBED_NVIDIA_DRIVER:-}" ] && vendor_repos "the NVIDIA driver and toolkit"; then
  apt-get install -y -q "$SEEDBED_NVIDIA_DRIVER"
  curl -fsSL --retry 5 https://nvidia.github.io/libnvidia-container/gpgkey \
    | gpg --batch --yes --dearmor -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
  curl -fsSL --retry 5 https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list \
    | sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://#g' \
    > /etc/apt/sources.list.d/nvidia-container-toolkit.list
  apt-get update -q
  apt-get install -y -q "nvidia-container-toolkit=${SEEDBED_NVIDIA_TOOLKIT_VERSION}" \
    "nvidia-container-toolkit-base=${SEEDBED_NVIDIA_TOOLKIT_VERSION}"
  apt-mark hold nvidia-container-toolkit nvidia-container-toolkit-base
fi
