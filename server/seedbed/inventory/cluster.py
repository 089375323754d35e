"""How seedbed assembles the Kubernetes cluster: versions, load balancer, Rancher, NFS, tools."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from .fields import DNS_LABEL, Strict, abs_path, address_range

Engine = Literal["rke", "rke2"]
# Kubernetes versions as each engine names them: v1.30.14-rancher1-1 (RKE), v1.32.13+rke2r2 (RKE2).
_K8S_VERSION = {"rke": re.compile(r"v\d+\.\d+\.\d+-rancher\d+(-\d+)?"),
                "rke2": re.compile(r"v\d+\.\d+\.\d+\+rke2r\d+")}
_K8S_EXAMPLE = {"rke": "v1.30.14-rancher1-1", "rke2": "v1.32.13+rke2r2"}


class NfsExport(Strict):
    """An NFS export for the cluster's default StorageClass (e.g. a Synology share)."""

    server: str
    path: str

    @field_validator("server")
    @classmethod
    def _server(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", v):
            raise ValueError(f"{v!r} is not a host name or IPv4 address")
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return abs_path(v, "export path")


class RancherSettings(Strict):
    enabled: bool = True
    hostname: str | None = None  # default: rancher.<site.domain>
    bootstrap_password: SecretStr | None = None  # default: generated once, kept in the state folder
    replicas: Annotated[int, Field(ge=1, le=5)] = 3  # capped at the number of workers

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str | None) -> str | None:
        if v is not None and not all(DNS_LABEL.fullmatch(p) for p in v.split(".")):
            raise ValueError(f"{v!r} is not a lower-case DNS name")
        return v

    @field_validator("bootstrap_password")
    @classmethod
    def _password(cls, v: SecretStr | None) -> SecretStr | None:
        secret = v.get_secret_value() if v is not None else None
        if secret is not None and (len(secret) < 12 or any(ord(c) < 32 for c in secret)):
            raise ValueError("bootstrap_password needs at least 12 characters and no control "
                             "characters (Rancher refuses shorter ones)")
        return v


class ClusterTools(Strict):
    """Where rke, helm and kubectl live when they are not on PATH."""

    rke: str | None = None
    helm: str | None = None
    kubectl: str | None = None

    @field_validator("rke", "helm", "kubectl")
    @classmethod
    def _tool(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else abs_path(v, info.field_name or "tool")


class Cluster(Strict):
    """How seedbed assembles the Kubernetes cluster; every key has a default."""

    # rke: RKE v1 (`rke up` over SSH, Docker), today's default; rke2: the nodes install RKE2
    # at first boot from seedbed's artifact mirror and seedbed waits for them (cluster/rke2.py).
    engine: Engine = "rke"
    kubernetes_version: str | None = None  # default: rke/versions.yaml or rke/rke2/versions.yaml
    network_plugin: str = "canal"  # checked per engine (rules.cluster_problems)
    load_balancer: str | None = None  # MetalLB pool: first-last address, or a CIDR
    rancher: RancherSettings = RancherSettings()
    nfs: NfsExport | None = None
    kubeconfig: str | None = None  # also copy kube_config_cluster.yml here after each rke up
    tools: ClusterTools = ClusterTools()

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, v: str | None, info: ValidationInfo) -> str | None:
        engine = info.data.get("engine", "rke")  # declared before: validated first
        if v is not None and engine in _K8S_VERSION and not _K8S_VERSION[engine].fullmatch(v):
            raise ValueError(f"{v!r} is not an {engine.upper()} Kubernetes version such as "
                             f"{_K8S_EXAMPLE[engine]}")
        return v

    @field_validator("load_balancer")
    @classmethod
    def _range(cls, v: str | None) -> str | None:
        if v is None:
            return None
        first, last = address_range(v)
        return f"{first}-{last}"

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig(cls, v: str | None) -> str | None:
        return None if v is None else abs_path(v, "kubeconfig")

    def load_balancer_range(self) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None:
        return None if self.load_balancer is None else address_range(self.load_balancer)
