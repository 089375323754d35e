# Docker CE from Docker's repository, pinned: RKE rejects releases it does not know.
if vendor_repos "Docker CE"; then
  install -m 0755 -d /etc/apt/keyrings
  curl -fsSL --retry 5 https://download.docker.com/linux/ubuntu/gpg -o /etc/apt/keyrings/docker.asc
  chmod a+r /etc/apt/keyrings/docker.asc
  echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu ${SEEDBED_UBUNTU_CODENAME} stable" \
    > /etc/apt/sources.list.d/docker.list
  apt-get update -q
  apt-get install -y -q "docker-ce=${SEEDBED_DOCKER_VERSION}" "docker-ce-cli=${SEEDBED_DOCKER_VERSION}" \
    containerd.io docker-buildx-plugin
  apt-mark hold docker-ce docker-ce-cli
fi
