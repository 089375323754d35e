# The Ubuntu release this system runs (focal, jammy or noble) names the vendor
# repositories' suite; seedbed rendered the pins (Docker's are built per release, the
# NVIDIA modules per kernel flavour) for the node's release: the two must agree, or the
# node booted another release's ISO than its inventory entry says.
RELEASE_CODENAME="$(. "${SEEDBED_OS_RELEASE:-/etc/os-release}" && echo "${VERSION_CODENAME:-}")"
ubuntu_release() {
  case "$RELEASE_CODENAME" in
    focal | jammy | noble) ;;
    *)
      echo "seedbed: $1 needs Ubuntu focal, jammy or noble; this system is '${RELEASE_CODENAME:-unknown}'" >&2
      return 1
      ;;
  esac
  if [ "$RELEASE_CODENAME" != "${SEEDBED_UBUNTU_CODENAME}" ]; then
    echo "seedbed: the pins are for ${SEEDBED_UBUNTU_CODENAME} but this system is $RELEASE_CODENAME" \
      "(the node's release in the inventory and its installer ISO differ)" >&2
    return 1
  fi
}
