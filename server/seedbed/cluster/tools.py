"""rke, helm, kubectl (ssh for RKE2): found at a configured path or on PATH, or a job says how to get them."""

from __future__ import annotations

import os
import shutil

from ..inventory import ClusterTools

INSTALL_HINTS = {
    "rke": "download the rke v1.8.x binary for linux-amd64 from "
           "https://github.com/rancher/rke/releases, make it executable and put it on "
           "PATH (e.g. /usr/local/bin/rke) or set cluster.tools.rke in the inventory",
    "helm": "install Helm 3 (https://helm.sh/docs/intro/install/, e.g. the get-helm-3 script "
            "or the helm-v3.x-linux-amd64 tarball) and put it on PATH or set "
            "cluster.tools.helm in the inventory",
    "kubectl": "install kubectl v1.30 (within one minor version of the cluster: "
               "https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/) and put it on "
               "PATH or set cluster.tools.kubectl in the inventory",
    "ssh": "install OpenSSH's client (Debian/Ubuntu: apt-get install openssh-client): "
           "RKE2 clusters need it to collect the first server's kubeconfig",
}


class ToolMissing(Exception):
    def __init__(self, name: str, detail: str):
        super().__init__(f"{name} not found ({detail}): {INSTALL_HINTS[name]}")
        self.name = name
        self.detail = detail


def find_tool(name: str, tools: ClusterTools, path: str | None = None) -> str:
    """The executable for `name`: the inventory's path if set, else the first on PATH."""
    configured = getattr(tools, name, None)  # ssh has no inventory setting
    if configured is not None:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise ToolMissing(name, f"cluster.tools.{name} is {configured}, not an executable file")
    found = shutil.which(name, path=path)
    if found is None:
        raise ToolMissing(name, "not on PATH")
    return found
