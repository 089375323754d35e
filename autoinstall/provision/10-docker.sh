# Docker CE from Docker's repository, pinned and held: RKE rejects releases it does not
# know, and an unattended upgrade of any of these packages would restart every container.
if vendor_repos "Docker CE"; then
  ubuntu_release "Docker CE"
  install -m 0755 -d /etc/apt/keyrings
  curl -fsSL --retry 5 https://download.docker.com/linux/ubuntu/gpg -o /etc/apt/keyrings/docker.asc
  chmod a+r /etc/apt/keyrings/docker.asc
  echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu ${RELEASE_CODENAME} stable" \
    > /etc/apt/sources.list.d/docker.list
  apt-get update -q
  apt-get install -y -q "docker-ce=${SEEDBED_DOCKER_VERSION}" "docker-ce-cli=${SEEDBED_DOCKER_VERSION}" \
    "containerd.io=${SEEDBED_CONTAINERD_VERSION}" "docker-buildx-plugin=${SEEDBED_BUILDX_VERSION}"
  apt-mark hold docker-ce docker-ce-cli containerd.io docker-buildx-plugin
fi
