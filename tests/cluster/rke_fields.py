"""The fake rke's own picture of cluster.yml, written from rancher/rke types/rke_types.go.

Independent of seedbed's pydantic model on purpose: the fake must catch what
that model might let through. Key names only, plus rke's rules.
"""

from __future__ import annotations

import re
from typing import Any

TOP = {
    "nodes", "services", "network", "authentication", "addons", "addons_include",
    "system_images", "ssh_key_path", "ssh_cert_path", "ssh_agent_auth", "authorization",
    "ignore_docker_version", "enable_cri_dockerd", "kubernetes_version", "private_registries",
    "ingress", "cluster_name", "cloud_provider", "prefix_path", "win_prefix_path",
    "addon_job_timeout", "bastion_host", "monitoring", "restore", "rotate_certificates",
    "rotate_encryption_key", "dns", "upgrade_strategy", "cri_dockerd_stream_server_address",
    "cri_dockerd_stream_server_port",
}
NODE = {
    "nodeName", "address", "port", "internal_address", "role", "hostname_override", "user",
    "docker_socket", "ssh_agent_auth", "ssh_key", "ssh_key_path", "ssh_cert", "ssh_cert_path",
    "labels", "taints",
}
BASE_SERVICE = {
    "image", "extra_args", "extra_args_array", "extra_binds", "extra_env", "win_extra_args",
    "win_extra_args_array", "win_extra_binds", "win_extra_env",
}
SERVICES = {
    "etcd": BASE_SERVICE | {"external_urls", "ca_cert", "cert", "key", "path", "uid", "gid",
                            "snapshot", "retention", "creation", "backup_config"},
    "kube-api": BASE_SERVICE | {"service_cluster_ip_range", "service_node_port_range",
                                "pod_security_configuration", "always_pull_images",
                                "secrets_encryption_config", "audit_log",
                                "admission_configuration", "event_rate_limit"},
    "kube-controller": BASE_SERVICE | {"cluster_cidr", "service_cluster_ip_range"},
    "scheduler": BASE_SERVICE,
    "kubelet": BASE_SERVICE | {"cluster_domain", "infra_container_image", "cluster_dns_server",
                               "fail_swap_on", "generate_serving_certificate"},
    "kubeproxy": BASE_SERVICE,
}
NETWORK = {
    "plugin", "options", "mtu", "calico_network_provider", "canal_network_provider",
    "flannel_network_provider", "weave_network_provider", "aci_network_provider",
    "node_selector", "update_strategy", "tolerations",
}
AUTHENTICATION = {"strategy", "sans", "webhook"}
INGRESS = {
    "provider", "options", "node_selector", "extra_args", "dns_policy", "extra_envs",
    "extra_volumes", "extra_volume_mounts", "update_strategy", "http_port", "https_port",
    "network_mode", "tolerations", "default_backend", "default_http_backend_priority_class_name",
    "nginx_ingress_controller_priority_class_name", "default_ingress_class",
}
ROLES = {"etcd", "controlplane", "worker"}
VERSION = re.compile(r"v\d+\.\d+\.\d+-rancher\d+-\d+")


def _unknown(where: str, value: Any, allowed: set[str]) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected a mapping"]
    return [f"{where}.{key}: unknown field" for key in value if key not in allowed]


def validate(doc: Any) -> list[str]:
    """Every reason rke (strictly read) would refuse this cluster.yml."""
    errors = _unknown("<top>", doc, TOP)
    if errors and not isinstance(doc, dict):
        return errors
    for i, node in enumerate(doc.get("nodes") or []):
        errors += _unknown(f"nodes[{i}]", node, NODE)
    for name, service in (doc.get("services") or {}).items():
        if name not in SERVICES:
            errors.append(f"services.{name}: unknown service")
        else:
            errors += _unknown(f"services.{name}", service, SERVICES[name])
    for key, allowed in (("network", NETWORK), ("authentication", AUTHENTICATION),
                         ("ingress", INGRESS)):
        if key in doc:
            errors += _unknown(key, doc[key], allowed)
    return errors + _rules(doc)


def _rules(doc: dict[str, Any]) -> list[str]:
    errors = []
    nodes = doc.get("nodes") or []
    roles = [set(n.get("role") or []) for n in nodes]
    for i, node_roles in enumerate(roles):
        if not node_roles or node_roles - ROLES:
            errors.append(f"nodes[{i}].role: {sorted(node_roles)} is not a set of rke roles")
    for role in sorted(ROLES):
        if not any(role in r for r in roles):
            errors.append(f"Cluster must have at least one {role} plane host")
    addresses = [n.get("address") for n in nodes]
    names = [n.get("hostname_override") or n.get("address") for n in nodes]
    if len(set(addresses)) != len(addresses):
        errors.append("Cluster can't have duplicate node addresses")
    if len(set(names)) != len(names):
        errors.append("Cluster can't have duplicate node names")
    for i, node in enumerate(nodes):
        if not node.get("user"):
            errors.append(f"nodes[{i}]: user is required")
        name = str(node.get("hostname_override", ""))
        if name != name.lower():
            errors.append(f"nodes[{i}].hostname_override {name!r} is not lower-case")
    if not VERSION.fullmatch(str(doc.get("kubernetes_version", ""))):
        errors.append(f"kubernetes_version {doc.get('kubernetes_version')!r} is not a release")
    return errors
