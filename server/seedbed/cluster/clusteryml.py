"""cluster.yml: built as data from the inventory and the healthy nodes, checked by a strict model.

rke parses cluster.yml with yaml.v2 non-strictly, so a misspelt key such as
`hostname_overide` is silently ignored there. The models below mirror rke's
RancherKubernetesEngineConfig and RKEConfigNode (rancher/rke types/rke_types.go)
with unknown keys forbidden, so such a typo is an error here instead. Sections
seedbed never writes are typed loosely, but their names are checked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..inventory import Inventory, Node
from ..inventory.fields import DNS_NAME, listed_once
from . import data

GPU_LABEL = "nvidia.com/gpu.present"
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?")
_RKE_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")


class _Rke(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RkeTaint(_Rke):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class RkeNode(_Rke):
    node_name: str | None = Field(None, alias="nodeName")
    address: str
    port: str | None = None
    internal_address: str | None = None
    role: list[Literal["controlplane", "etcd", "worker"]] = Field(min_length=1)
    hostname_override: str | None = None
    user: str
    docker_socket: str | None = None
    ssh_agent_auth: bool | None = None
    ssh_key: str | None = None
    ssh_key_path: str | None = None
    ssh_cert: str | None = None
    ssh_cert_path: str | None = None
    labels: dict[str, str] = {}
    taints: list[RkeTaint] = []

    @field_validator("role")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return listed_once(v, "a role")

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            prefix, _, name = key.rpartition("/")
            if (prefix and not DNS_NAME.fullmatch(prefix)) or not _LABEL_NAME.fullmatch(name):
                raise ValueError(f"{key!r} is not a Kubernetes label key")
            if value and not _LABEL_NAME.fullmatch(value):
                raise ValueError(f"label {key}: {value!r} is not a Kubernetes label value")
        return v

    @property
    def name(self) -> str:
        return self.hostname_override or self.address


class _BaseService(_Rke):
    image: str | None = None
    extra_args: dict[str, str] = {}
    extra_args_array: dict[str, list[str]] = {}
    extra_binds: list[str] = []
    extra_env: list[str] = []
    win_extra_args: dict[str, str] = {}
    win_extra_args_array: dict[str, list[str]] = {}
    win_extra_binds: list[str] = []
    win_extra_env: list[str] = []


class EtcdService(_BaseService):
    external_urls: list[str] = []
    ca_cert: str | None = None
    cert: str | None = None
    key: str | None = None
    path: str | None = None
    uid: int | None = None
    gid: int | None = None
    snapshot: bool | None = None
    retention: str | None = None
    creation: str | None = None
    backup_config: dict[str, Any] | None = None


class KubeApiService(_BaseService):
    service_cluster_ip_range: str | None = None
    service_node_port_range: str | None = None
    pod_security_configuration: str | None = None
    always_pull_images: bool | None = None
    secrets_encryption_config: dict[str, Any] | None = None
    audit_log: dict[str, Any] | None = None
    admission_configuration: dict[str, Any] | None = None
    event_rate_limit: dict[str, Any] | None = None


class KubeControllerService(_BaseService):
    cluster_cidr: str | None = None
    service_cluster_ip_range: str | None = None


class KubeletService(_BaseService):
    cluster_domain: str | None = None
    infra_container_image: str | None = None
    cluster_dns_server: str | None = None
    fail_swap_on: bool | None = None
    generate_serving_certificate: bool | None = None


class RkeServices(_Rke):
    etcd: EtcdService = EtcdService()
    kube_api: KubeApiService = Field(KubeApiService(), alias="kube-api")
    kube_controller: KubeControllerService = Field(KubeControllerService(), alias="kube-controller")
    scheduler: _BaseService = _BaseService()
    kubelet: KubeletService = KubeletService()
    kubeproxy: _BaseService = _BaseService()


class RkeNetwork(_Rke):
    plugin: Literal["canal", "calico", "flannel", "weave", "aci", "none"] = "canal"
    options: dict[str, str] = {}
    mtu: int | None = None
    calico_network_provider: dict[str, Any] | None = None
    canal_network_provider: dict[str, Any] | None = None
    flannel_network_provider: dict[str, Any] | None = None
    weave_network_provider: dict[str, Any] | None = None
    aci_network_provider: dict[str, Any] | None = None
    node_selector: dict[str, str] = {}
    update_strategy: dict[str, Any] | None = None
    tolerations: list[dict[str, Any]] = []


class RkeAuthentication(_Rke):
    strategy: str = "x509"
    sans: list[str] = []
    webhook: dict[str, Any] | None = None


class RkeAuthorization(_Rke):
    mode: str | None = None
    options: dict[str, str] = {}


class RkeIngress(_Rke):
    provider: Literal["nginx", "none"] | None = None
    options: dict[str, str] = {}
    node_selector: dict[str, str] = {}
    extra_args: dict[str, str] = {}
    dns_policy: str | None = None
    extra_envs: list[dict[str, Any]] = []
    extra_volumes: list[dict[str, Any]] = []
    extra_volume_mounts: list[dict[str, Any]] = []
    update_strategy: dict[str, Any] | None = None
    http_port: int | None = None
    https_port: int | None = None
    network_mode: str | None = None
    tolerations: list[dict[str, Any]] = []
    default_backend: bool | None = None
    default_http_backend_priority_class_name: str | None = None
    nginx_ingress_controller_priority_class_name: str | None = None
    default_ingress_class: bool | None = None


class RkeCluster(_Rke):
    """RancherKubernetesEngineConfig: every top-level key rke v1.8 reads."""

    nodes: list[RkeNode] = Field(min_length=1)
    services: RkeServices = RkeServices()
    network: RkeNetwork = RkeNetwork()
    authentication: RkeAuthentication = RkeAuthentication()
    addons: str | None = None
    addons_include: list[str] = []
    system_images: dict[str, str] = {}
    ssh_key_path: str | None = None
    ssh_cert_path: str | None = None
    ssh_agent_auth: bool | None = None
    authorization: RkeAuthorization = RkeAuthorization()
    ignore_docker_version: bool | None = None
    enable_cri_dockerd: bool | None = None
    kubernetes_version: str | None = None
    private_registries: list[dict[str, Any]] = []
    ingress: RkeIngress = RkeIngress()
    cluster_name: str | None = None
    cloud_provider: dict[str, Any] | None = None
    prefix_path: str | None = None
    win_prefix_path: str | None = None
    addon_job_timeout: int | None = None
    bastion_host: dict[str, Any] | None = None
    monitoring: dict[str, Any] | None = None
    restore: dict[str, Any] | None = None
    rotate_certificates: dict[str, Any] | None = None
    rotate_encryption_key: bool | None = None
    dns: dict[str, Any] | None = None
    upgrade_strategy: dict[str, Any] | None = None
    cri_dockerd_stream_server_address: str | None = None
    cri_dockerd_stream_server_port: str | None = None


class ClusterYmlError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("cluster.yml is not valid:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


def check(document: dict[str, Any]) -> tuple[RkeCluster, list[str]]:
    """Validate a cluster.yml document; return it parsed and its warnings, or raise."""
    try:
        cluster = RkeCluster.model_validate(document)
    except ValidationError as exc:
        raise ClusterYmlError([_problem(e) for e in exc.errors()]) from None
    problems, warnings = _rules(cluster)
    if problems:
        raise ClusterYmlError(problems)
    return cluster, warnings


def _problem(err: Any) -> str:
    where = ""
    for part in err["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key (rke would silently ignore it)"
    return f"{where or '<document>'}: {str(err['msg']).removeprefix('Value error, ')}"


def _rules(cluster: RkeCluster) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    for role in ("etcd", "controlplane", "worker"):
        if not any(role in n.role for n in cluster.nodes):
            problems.append(f"nodes: no node has the role {role}: rke needs at least one")
    for what, values in (("address", [n.address for n in cluster.nodes]),
                         ("hostname_override", [n.name for n in cluster.nodes])):
        seen: set[str] = set()
        for i, value in enumerate(values):
            if value in seen:
                problems.append(f"nodes[{i}].{what}: {value!r} is used by another node")
            seen.add(value)
    for i, node in enumerate(cluster.nodes):
        if not _RKE_NAME.fullmatch(node.name):
            problems.append(f"nodes[{i}].hostname_override: {node.name!r} must be a lower-case "
                            "DNS name (Kubernetes node names are)")
        if not (node.ssh_key or node.ssh_key_path or cluster.ssh_key_path or node.ssh_agent_auth
                or cluster.ssh_agent_auth):
            problems.append(f"nodes[{i}]: no SSH key: set ssh_key_path")
    etcd = sum("etcd" in n.role for n in cluster.nodes)
    warnings = []
    if etcd and etcd % 2 == 0:
        warnings.append(f"{etcd} etcd nodes: an even count tolerates no more failures than "
                        f"{etcd - 1}")
    return problems, warnings


def kubernetes_version(inv: Inventory) -> str:
    if inv.cluster.kubernetes_version:
        return inv.cluster.kubernetes_version
    if inv.cluster.engine == "rke2":
        return str(data.rke2_versions()["rke2_version"])
    return str(data.versions()["kubernetes_version"])


def node_entry(inv: Inventory, node: Node, key_path: Path) -> dict[str, Any]:
    labels = dict(node.labels)
    if node.gpus:
        labels[GPU_LABEL] = "true"  # the NVIDIA device plugin schedules on this label
    entry: dict[str, Any] = {
        "address": str(node.ip),
        "port": "22",
        "internal_address": str(node.ip),
        "user": inv.admin.username,
        "role": [r for r in ("controlplane", "etcd", "worker") if r in node.roles],
        "hostname_override": node.hostname.lower(),
        "ssh_key_path": str(key_path),
    }
    if labels:
        entry["labels"] = labels
    return entry


def build(inv: Inventory, members: Sequence[Node], key_path: Path) -> dict[str, Any]:
    """The cluster.yml document: rke/cluster.yml plus the nodes and the inventory's choices."""
    base = data.base_cluster_yml()
    document: dict[str, Any] = {"nodes": [node_entry(inv, n, key_path) for n in members]}
    document.update(base)
    document["kubernetes_version"] = kubernetes_version(inv)
    document.setdefault("network", {})["plugin"] = inv.cluster.network_plugin
    kubelet = document.setdefault("services", {}).setdefault("kubelet", {})
    kubelet.setdefault("extra_args", {})["resolv-conf"] = SYSTEMD_RESOLV_CONF
    return document


def to_text(document: dict[str, Any]) -> str:
    header = "# Written by seedbed from the inventory and the healthy nodes; edits are replaced.\n"
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
