"""The keys rke2 accepts in /etc/rancher/rke2/config.yaml, with their types: an allow-list.

Source: rancher/rke2 at tag v1.32.13+rke2r2 (the pin in rke/rke2/versions.yaml):
pkg/cli/cmds/server.go and agent.go (the K3SFlagSet entries kept with copyFlag or given a
new usage; dropFlag and hideFlag entries are left out), serverFlag (cni, ingress-controller,
enable-servicelb), commonFlag in root.go (image overrides, profile, control-plane resources,
extra mounts/env), and the valid items of pkg/cli/types.go. The types are those of the k3s
flags rke2 copies (k3s-io/k3s pkg/cli/cmds/server.go, agent.go: StringSlice -> list,
Bool -> bool, Int -> int, String/Duration -> str). rke2's configfilearg refuses a key that is
no flag of the command, so a key that is valid for `server` but not `agent` is an error there.
"""

from __future__ import annotations

from typing import Any

STR, LIST, BOOL, INT = "str", "list", "bool", "int"

_COMMON = {
    "config": STR, "debug": BOOL, "data-dir": STR, "token": STR, "token-file": STR,
    "node-name": STR, "with-node-id": BOOL, "node-label": LIST, "node-taint": LIST,
    "image-credential-provider-bin-dir": STR, "image-credential-provider-config": STR,
    "container-runtime-endpoint": STR, "disable-default-registry-endpoint": BOOL,
    "nonroot-devices": BOOL, "default-runtime": STR, "private-registry": STR,
    "node-ip": LIST, "node-external-ip": LIST, "node-internal-dns": LIST,
    "node-external-dns": LIST, "resolv-conf": STR, "kubelet-arg": LIST, "kube-proxy-arg": LIST,
    "server": STR, "protect-kernel-defaults": BOOL, "snapshotter": STR, "selinux": BOOL,
    "lb-server-port": INT, "airgap-extra-registry": LIST, "bind-address": STR,
    "enable-pprof": BOOL,
    # commonFlag (root.go), on both commands
    "kube-apiserver-image": STR, "kube-controller-manager-image": STR,
    "cloud-controller-manager-image": STR, "kube-proxy-image": STR,
    "kube-scheduler-image": STR, "pause-image": STR, "runtime-image": STR, "etcd-image": STR,
    "kubelet-path": STR, "cloud-provider-name": STR, "cloud-provider-config": STR,
    "node-name-from-cloud-provider-metadata": BOOL, "profile": STR, "audit-policy-file": STR,
    "pod-security-admission-config-file": STR, "control-plane-resource-requests": LIST,
    "control-plane-resource-limits": LIST, "control-plane-probe-configuration": LIST,
    **{f"{part}-extra-{kind}": LIST for part in ("kube-apiserver", "kube-scheduler",
                                                 "kube-controller-manager", "kube-proxy", "etcd",
                                                 "cloud-controller-manager")
       for kind in ("mount", "env")},
}

AGENT = dict(_COMMON)

SERVER = {
    **_COMMON,
    "advertise-address": STR, "tls-san": LIST, "tls-san-security": BOOL, "cluster-cidr": LIST,
    "service-cidr": LIST, "cluster-reset": BOOL, "cluster-reset-restore-path": STR,
    "cluster-dns": LIST, "cluster-domain": STR, "write-kubeconfig": STR,
    "write-kubeconfig-mode": STR, "write-kubeconfig-group": STR, "kube-apiserver-arg": LIST,
    "etcd-arg": LIST, "kube-scheduler-arg": LIST, "kube-controller-manager-arg": LIST,
    "kube-cloud-controller-manager-arg": LIST, "datastore-endpoint": STR,
    "datastore-cafile": STR, "datastore-certfile": STR, "datastore-keyfile": STR,
    "disable": LIST, "disable-scheduler": BOOL, "disable-cloud-controller": BOOL,
    "disable-kube-proxy": BOOL, "disable-apiserver": BOOL, "disable-controller-manager": BOOL,
    "disable-etcd": BOOL, "etcd-disable-snapshots": BOOL, "etcd-snapshot-schedule-cron": STR,
    "etcd-snapshot-reconcile-interval": STR, "etcd-snapshot-retention": INT,
    "etcd-snapshot-dir": STR, "etcd-snapshot-name": STR, "etcd-snapshot-compress": BOOL,
    "embedded-registry": BOOL, "supervisor-metrics": BOOL, "system-default-registry": STR,
    "egress-selector-mode": STR, "agent-token": STR, "agent-token-file": STR,
    "secrets-encryption-provider": STR, "service-node-port-range": STR,
    "etcd-expose-metrics": BOOL, "etcd-s3": BOOL, "etcd-s3-access-key": STR,
    "etcd-s3-bucket": STR, "etcd-s3-bucket-lookup-type": STR, "etcd-s3-config-secret": STR,
    "etcd-s3-endpoint": STR, "etcd-s3-endpoint-ca": STR, "etcd-s3-folder": STR,
    "etcd-s3-insecure": BOOL, "etcd-s3-proxy": STR, "etcd-s3-region": STR,
    "etcd-s3-secret-key": STR, "etcd-s3-session-token": STR, "etcd-s3-skip-ssl-verify": BOOL,
    "etcd-s3-timeout": STR, "etcd-s3-retention": INT, "helm-job-image": STR,
    "servicelb-namespace": STR,
    # serverFlag (server.go)
    "cni": LIST, "ingress-controller": LIST, "enable-servicelb": BOOL,
}

# pkg/cli/types.go: the valid items of the list flags whose values rke2 checks.
CNI_ITEMS = {"calico", "canal", "cilium", "flannel", "none"}
INGRESS_ITEMS = {"traefik", "ingress-nginx", "none"}
DISABLE_ITEMS = {"rke2-coredns", "rke2-metrics-server", "rke2-snapshot-controller",
                 "rke2-snapshot-controller-crd", "rke2-snapshot-validation-webhook",
                 "rke2-security-responder"}
TAINT_EFFECTS = {"NoSchedule", "PreferNoSchedule", "NoExecute"}


def _typed(value: Any, kind: str) -> bool:
    if kind == LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


def validate(config: Any, command: str) -> list[str]:
    """Problems rke2 `command` (server or agent) would have with this config.yaml document."""
    if not isinstance(config, dict):
        return ["config.yaml is not a mapping"]
    flags = SERVER if command == "server" else AGENT
    errors = []
    for key, value in config.items():
        if key not in flags:
            errors.append(f"{key}: not a flag of rke2 {command}")
        elif not _typed(value, flags[key]):
            errors.append(f"{key}: {value!r} is not a {flags[key]}")
    if errors:
        return errors
    for key, items in (("cni", CNI_ITEMS), ("ingress-controller", INGRESS_ITEMS),
                       ("disable", DISABLE_ITEMS)):
        for item in config.get(key, []):
            if item not in items:
                errors.append(f"{key}: {item!r} is not one of {sorted(items)}")
    for taint in config.get("node-taint", []):
        key_value, _, effect = taint.rpartition(":")
        if "=" not in key_value or effect not in TAINT_EFFECTS:
            errors.append(f"node-taint: {taint!r} is not key=value:Effect")
    for label in config.get("node-label", []):
        if "=" not in label:
            errors.append(f"node-label: {label!r} is not key=value")
    mode = config.get("write-kubeconfig-mode")
    if mode is not None and (len(mode) != 4 or any(c not in "01234567" for c in mode)):
        errors.append(f"write-kubeconfig-mode: {mode!r} is not an octal mode such as 0640")
    return errors
