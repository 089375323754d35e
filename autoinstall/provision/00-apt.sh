# Package sources: an optional proxy, then a fresh index.
if [ -n "${SEEDBED_APT_PROXY:-}" ]; then
  printf 'Acquire::http::Proxy "%s";\n' "$SEEDBED_APT_PROXY" > /etc/apt/apt.conf.d/90seedbed-proxy
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q ca-certificates curl gnupg
