"""The hardware facts a discovery boot reports, as stored with the discovered machine.

The report comes from a machine nobody has vouched for yet, so every field is typed,
every string and list bounded, and nothing unknown is kept: what is stored is what
this model says (`stored_facts`), at most limits.DISCOVERY_FACTS_MAX_BYTES of JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from ..inventory import normalize_mac

MAX_DISKS = 64
MAX_NICS = 32
MAX_GPUS = 32
TEXT_CHARS = 128
# Names a few GPU vendors' PCI IDs (the ramdisk has no pci.ids); others stay unnamed.
GPU_VENDORS = {"0x10de": "NVIDIA", "0x1002": "AMD", "0x8086": "Intel", "0x1234": "QEMU",
               "0x1af4": "Red Hat (virtio)", "0x15ad": "VMware", "0x102b": "Matrox",
               "0x1a03": "ASPEED"}
NVIDIA = "0x10de"


def _printable(value: str) -> str:
    if any(not c.isprintable() for c in value):
        raise ValueError("must be printable text (no control characters)")
    return value


Text = Annotated[StrictStr, Field(max_length=TEXT_CHARS), AfterValidator(_printable)]
KernelName = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.:@-]{1,32}$")]
PciId = Annotated[StrictStr, Field(pattern=r"^0x[0-9a-f]{4}$")]
PciAddress = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")]
Mac = Annotated[StrictStr, Field(max_length=17), AfterValidator(normalize_mac)]
Bytes = Annotated[StrictInt, Field(ge=0, le=2**62)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Cpu(_Part):
    model: Text | None = None
    cores: Annotated[StrictInt, Field(ge=1, le=65_536)] | None = Field(
        None, description="logical CPUs (as nproc counts them)")


class Disk(_Part):
    name: KernelName
    serial: Text | None = Field(None, description="as lsblk -o SERIAL prints it")
    model: Text | None = None
    size_bytes: Bytes
    rotational: StrictBool | None = None
    removable: StrictBool | None = None
    transport: Text | None = Field(None, description="as lsblk -o TRAN names it: nvme, sata, usb...")


class Nic(_Part):
    name: KernelName
    mac: Mac
    link: StrictBool | None = Field(None, description="carrier seen; null when unknown")
    driver: Text | None = None


class Gpu(_Part):
    vendor_id: PciId
    device_id: PciId
    vendor: Text | None = None
    name: Text | None = None
    pci: PciAddress


class Firmware(_Part):
    mode: Literal["bios", "uefi"]
    secure_boot: StrictBool | None = Field(None, description="null when the firmware does not say")


class Dmi(_Part):
    vendor: Text | None = None
    product: Text | None = None
    serial: Text | None = None


class DiscoveryFacts(_Part):
    """What the deploy ramdisk's report-only mode gathers (packer/deploy/facts)."""

    cpu: Cpu | None = None
    memory_bytes: Bytes | None = None
    disks: Annotated[list[Disk], Field(max_length=MAX_DISKS)] = []
    nics: Annotated[list[Nic], Field(max_length=MAX_NICS)] = []
    gpus: Annotated[list[Gpu], Field(max_length=MAX_GPUS)] = []
    firmware: Firmware | None = None
    dmi: Dmi | None = None


def stored_facts(report: DiscoveryFacts) -> dict[str, Any]:
    """The facts as stored: the model's fields only, GPU vendors named where known."""
    facts = report.model_dump(mode="json")
    for gpu in facts["gpus"]:
        gpu["vendor"] = gpu["vendor"] or GPU_VENDORS.get(gpu["vendor_id"])
    return facts


def hardware_summary(facts: dict[str, Any] | None) -> str:
    """Stored facts in one line: CPUs, memory, disk sizes, NICs, NVIDIA GPUs, firmware, DMI."""
    if not facts:
        return "(not reported)"
    cpu = facts.get("cpu") or {}
    firmware = facts.get("firmware") or {}
    memory = facts.get("memory_bytes")
    disks = " + ".join(f"{d['size_bytes'] / 1e9:.0f}G" for d in facts["disks"]) or "no disk"
    nvidia = sum(1 for gpu in facts["gpus"] if gpu["vendor_id"] == NVIDIA)
    secure = {True: " Secure Boot on", False: "", None: " Secure Boot unknown"}[firmware.get("secure_boot")]
    product = " ".join(filter(None, [(facts.get("dmi") or {}).get(k) for k in ("vendor", "product")]))
    return ", ".join(filter(None, [
        f"{cpu.get('cores') or '?'} CPU", f"{memory / 2**30:.1f} GiB" if memory else None, disks,
        f"{len(facts['nics'])} NIC", f"{nvidia} NVIDIA GPU" if nvidia else None,
        f"{firmware.get('mode', 'firmware ?')}{secure}", product[:40] or None]))
