"""dnsmasq configurations rendered from inventories: accepted by `dnsmasq --test`, and
refusing values that could smuggle a line or a comment into the file."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from seedbed.inventory import InventoryError
from seedbed.lan import dnsmasq
from support import inventory_data, inventory_of

from .conftest import lan_inventory


def _inv(data: dict[str, Any]):  # noqa: ANN202
    return inventory_of(data)


def _dnsmasq_test(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["dnsmasq", "--test", f"--conf-file={conf}"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def _lines(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


VARIANTS = {
    "proxy-default": inventory_data(),
    "proxy-interface-snponly": lan_inventory("proxy", uefi_binary="snponly.efi"),
    "full-static": lan_inventory("full"),
    "full-range": lan_inventory(
        "full",
        range={"start": "10.231.0.100", "end": "10.231.0.150"},
        upstream_dns=["10.231.0.1", "9.9.9.9"],
        lease_time="1h",
    ),
    "full-server-ip": {
        **inventory_data(),
        "dhcp": {"mode": "full", "server_ip": "10.20.0.7", "tftp_root": "/srv/tftp/"},
    },
}


@pytest.mark.parametrize("name", VARIANTS)
def test_every_rendered_config_passes_dnsmasq_test(name: str, tmp_path: Path) -> None:
    inv = _inv(VARIANTS[name])
    text = dnsmasq.config_text(inv, dnsmasq.Paths(tmp_path))
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(text)
    result = _dnsmasq_test(conf)
    assert result.returncode == 0, f"{name}: {result.stderr}\n{text}"
    assert "syntax check OK" in result.stderr
    # iPXE clients get the HTTP chain script, and no other boot file: no loop.
    boots = _lines(text, "dhcp-boot")
    ipxe = [b for b in boots if b.startswith("tag:ipxe,")]
    assert len(ipxe) == 1 and ipxe[0].startswith(f"tag:ipxe,{inv.site.base_url}/boot.ipxe")
    assert all(b.startswith(("tag:!ipxe", "tag:ipxe,http")) for b in boots), boots
    assert _lines(text, "tftp-root") == [inv.dhcp.tftp_root]


def test_proxy_mode_leaves_addresses_and_dns_to_the_router(tmp_path: Path) -> None:
    text = dnsmasq.config_text(_inv(lan_inventory("proxy")), dnsmasq.Paths(tmp_path))
    assert _lines(text, "dhcp-range") == ["set:lan,10.231.0.0,proxy,255.255.255.0"]
    assert _lines(text, "port") == ["0"]
    assert not _lines(text, "dhcp-host") and not _lines(text, "server")
    services = _lines(text, "pxe-service")
    assert [s.split(",")[1] for s in services] == ["x86PC", "BC_EFI", "X86-64_EFI"]
    assert all(s.startswith("tag:!ipxe,") for s in services)
    assert services[0].endswith(",undionly.kpxe") and services[1].endswith(",ipxe.efi")


def test_full_mode_reserves_every_node_mac_and_names_it(tmp_path: Path) -> None:
    data = lan_inventory("full", upstream_dns=["10.231.0.1"])
    data["nodes"][1]["macs"] = ["52:54:00:00:00:02", "52:54:00:00:00:12"]
    inv = _inv(data)
    text = dnsmasq.config_text(inv, dnsmasq.Paths(tmp_path))
    assert _lines(text, "dhcp-host") == [
        "52:54:00:5e:ed:61,10.231.0.21,gpu01,12h",
        "52:54:00:00:00:02,52:54:00:00:00:12,10.231.0.22,gpu02,12h",
    ]
    assert _lines(text, "host-record") == [
        "gpu01.lab.test,gpu01,10.231.0.21",
        "gpu02.lab.test,gpu02,10.231.0.22",
    ]
    assert _lines(text, "server") == ["10.231.0.1"]
    assert "no-resolv" in text.splitlines()
    assert _lines(text, "local") == ["/lab.test/"]
    assert "tag:lan,option:router,10.231.0.1" in _lines(text, "dhcp-option")
    assert "tag:lan,option:dns-server,10.231.0.5" in _lines(text, "dhcp-option")


@pytest.mark.parametrize(
    "dhcp, message",
    [
        ({"mode": "proxy", "range": {"start": "10.20.0.100", "end": "10.20.0.120"}}, "only in full mode"),
        ({"mode": "full", "range": {"start": "10.20.0.100", "end": "10.30.0.120"}}, "outside"),
        ({"mode": "full", "range": {"start": "10.20.0.120", "end": "10.20.0.100"}}, "after its end"),
        ({"mode": "full", "upstream_dns": ["10.20.0.5"]}, "upstream resolver"),
        ({"tftp_root": "/srv/tftp\nenable-ra"}, "absolute path"),
        ({"tftp_root": "/srv/tftp,x"}, "absolute path"),
        ({"interface": "eth0 # x"}, "interface name"),
        ({"lease_time": "12h\nport=53"}, "lease time"),
        ({"mode": "dhcp"}, "not allowed"),
    ],
)
def test_unsafe_or_inconsistent_dhcp_settings_are_refused(dhcp: dict, message: str) -> None:
    with pytest.raises(InventoryError) as err:
        _inv({**inventory_data(), "dhcp": dhcp})
    assert message in str(err.value), str(err.value)


def test_full_mode_without_a_server_address_is_refused() -> None:
    data = inventory_data(dhcp={"mode": "full"})
    data["site"]["base_url"] = "http://seedbed.lab.test:8080"
    with pytest.raises(InventoryError, match="server_ip"):
        _inv(data)


def test_render_refuses_line_breaks_and_comments_whatever_the_source() -> None:
    for value in ("a\nport=53", "x#y", " padded"):
        with pytest.raises(dnsmasq.DnsmasqConfigError):
            dnsmasq.render([dnsmasq.Option("dhcp-boot", value)])
    with pytest.raises(dnsmasq.DnsmasqConfigError):
        dnsmasq.render([dnsmasq.Option("Bad Key", "1")])


def test_missing_ipxe_binaries_are_named(tmp_path: Path) -> None:
    (tmp_path / "undionly.kpxe").write_bytes(b"x")
    inv = _inv({**inventory_data(), "dhcp": {"tftp_root": str(tmp_path)}})
    assert dnsmasq.missing_boot_files(inv) == [tmp_path / "ipxe.efi"]
