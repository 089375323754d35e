# seedbed — the two set-up commands are `make serve` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STATE ?= state
HOST ?= 127.0.0.1
PORT ?= 8080
INVENTORY ?= examples/lab.yaml

# System packages the test suites drive for real (QEMU, firmware, dnsmasq, slapd, packer;
# systemd-analyze and docker-compose check the deploy/ recipes).
TEST_DEBS := qemu-system-x86 qemu-utils ipxe-qemu ovmf mmdebstrap openssh-client \
	dnsmasq-base ipxe iproute2 zstd e2fsprogs \
	slapd ldap-utils sssd-tools bind9-utils openssl curl \
	packer fdisk dosfstools mtools jq openssh-server grub-efi-amd64-bin socat systemd docker-compose \
	python3-venv python3-dev gcc pkg-config libnl-3-dev libnl-genl-3-dev libnl-route-3-dev \
	python3-systemd python3-apt python3-distro-info dctrl-tools chromium shim-signed \
	grub-efi-amd64-signed xorriso openipmi ipmitool
# One command per package, so a check names what is missing.
TEST_CMDS := qemu-system-x86_64 qemu-img mmdebstrap ssh ssh-keygen dnsmasq zstd mkfs.ext4 ip \
	slapd ldapsearch sssctl named-checkzone openssl curl \
	packer sfdisk mkfs.vfat mcopy jq sshd grub-mknetdir socat gcc pkg-config systemd-analyze docker-compose \
	grep-status chromium xorriso ipmi_sim ipmitool

.PHONY: help venv serve test test-unit test-boot bench bench-deps lint system-deps clean image deploy-ramdisk

help:
	@echo "make serve      run seedbed on $(INVENTORY) at http://$(HOST):$(PORT)"
	@echo "make test       run the whole test suite (installs what it needs)"
	@echo "make test-boot  run only the QEMU boot tests"
	@echo "make bench      run the HTTP benchmark"
	@echo "make image      build the golden image with Packer (ISO=..., KVM needed)"
	@echo "make deploy-ramdisk  build the image deploy ramdisk into $(FILES)/deploy"
	@echo "make lint       ruff"

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.stamp

serve: venv
	$(VENV)/bin/seedbed serve --inventory $(INVENTORY) --state $(STATE) --host $(HOST) --port $(PORT)

# Installs the Debian packages the tests need when a command is missing (runs as root in CI).
system-deps:
	@missing=""; for c in $(TEST_CMDS); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	for f in /usr/lib/ipxe/qemu/pxe-virtio.rom /usr/share/ovmf/OVMF.fd /usr/lib/ipxe/undionly.kpxe \
		/usr/include/libnl3/netlink/route/link.h /usr/lib/python3/dist-packages/apt \
		/usr/lib/python3/dist-packages/systemd /usr/lib/python3/dist-packages/distro_info.py \
		/usr/lib/python3.11/ensurepip \
		/usr/lib/shim/shimx64.efi.signed /usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed \
		/usr/share/OVMF/OVMF_CODE_4M.ms.fd; do \
		[ -e $$f ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing test packages (missing:$$missing)"; \
		if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install: $(TEST_DEBS)"; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $(TEST_DEBS) >/dev/null; \
	fi

lint: venv
	$(VENV)/bin/ruff check server tests bench

# Two workers: the QEMU guests on one, the other suites beside them (tests/conftest.py).
test: venv system-deps
	$(VENV)/bin/ruff check server tests bench
	$(VENV)/bin/pytest -q -n 2

test-unit: venv
	$(VENV)/bin/pytest -q -m "not boot"

test-boot: venv system-deps
	$(VENV)/bin/pytest -q -m boot

# The golden image (packer/golden, Ubuntu 20.04 ISO + autoinstall) and the deploy
# ramdisk that writes it; both end up in the files folder seedbed serves at /files/.
FILES ?= $(STATE)/files
# ISO and ISO_CHECKSUM: empty for the pinned 20.04.6 ISO (seedbed.deploy.golden); set both for another.
ISO ?=
ISO_CHECKSUM ?=
ACCEL ?= kvm
DEPLOY_KERNEL ?= linux-image-amd64
DEBIAN_MIRROR ?= # default: the first Debian mirror in this machine's apt sources

image: venv
	$(PY) -m seedbed.deploy.golden --inventory $(INVENTORY) $(if $(ISO),--iso $(ISO)) \
		$(if $(ISO_CHECKSUM),--iso-checksum $(ISO_CHECKSUM)) --accelerator $(ACCEL) --work build/image
	mkdir -p $(FILES)/golden
	cp build/image/output/seedbed-golden.raw.zst build/image/output/seedbed-golden.raw.zst.sha256 \
		$(FILES)/golden/

deploy-ramdisk: venv
	$(PY) -m seedbed.deploy.ramdisk --out $(FILES)/deploy --cache build/cache \
		--kernel-package $(DEPLOY_KERNEL) $(if $(DEBIAN_MIRROR),--mirror $(DEBIAN_MIRROR))

# nginx and wrk are the references `make bench` measures seedbed against (loopback only).
BENCH_DEBS := nginx-light wrk
bench-deps:
	@command -v wrk >/dev/null && command -v nginx >/dev/null || { \
		if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install: $(BENCH_DEBS)"; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $(BENCH_DEBS) >/dev/null; }

bench: venv bench-deps
	$(PY) bench/wrk_bench.py
	$(PY) bench/http_bench.py --machines 50 --rounds 10
	$(PY) bench/http_bench.py --machines 50 --rounds 10 --ramp 0
	$(PY) bench/http_bench.py --machines 50 --rounds 10 --ramp 0 --cpu any
	$(PY) bench/http_bench.py --machines 50 --rounds 3 --ramp 0 --think 0

clean:
	rm -rf $(VENV) build dist .pytest_cache
