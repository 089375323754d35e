"""How seedbed assembles the Kubernetes cluster: versions, load balancer, Rancher, NFS, tools."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from .fields import DNS_LABEL, Strict, abs_path, address_range

_K8S_VERSION = re.compile(r"v\d+\.\d+\.\d+-rancher\d+(-\d+)?")


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

    kubernetes_version: str | None = None  # default: rke/versions.yaml
    network_plugin: str = "canal"  # checked against rke/versions.yaml (rules.cluster_problems)
    load_balancer: str | None = None  # MetalLB pool: first-last address, or a CIDR
    rancher: RancherSettings = RancherSettings()
    nfs: NfsExport | None = None
    kubeconfig: str | None = None  # also copy kube_config_cluster.yml here after each rke up
    tools: ClusterTools = ClusterTools()

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        if v is not None and not _K8S_VERSION.fullmatch(v):
            raise ValueError(f"{v!r} is not an RKE Kubernetes version such as v1.30.14-rancher1-1")
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
