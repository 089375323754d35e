"""Fake rke, helm and kubectl (and for RKE2: rke2, ssh) for the cluster tests: strict about
what they are given.

Each call is appended to $SEEDBED_FAKE_DIR/calls.jsonl with its argv, working
folder, pid and the files it was given. $SEEDBED_FAKE_DIR/control.json tells a
tool to fail (the first N calls, optionally only for one release) or to hang,
rke which version it is and which Kubernetes versions it lists, helm which
recorded versions to drop from its index (helm_index.yaml).

RKE2: `rke2 server|agent --config FILE` stands for a node's rke2 starting: it checks the
config.yaml against rke2's flags (rke2_flags.py), the token and the `server:` URL, and joins
the node to a fake cluster kept in $SEEDBED_FAKE_DIR/rke2-cluster.json (the first server
makes it, with its own CA). `ssh` stands for a node: it only reads the kubeconfig rke2 wrote
there, as the user of its write-kubeconfig-group. `kubectl get nodes` answers for that
cluster, only with a kubeconfig that points at the first server and trusts its CA.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import secrets
import stat
import sys
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import rke2_flags  # noqa: E402
import rke_fields  # noqa: E402

HANG_LIMIT = 120  # a hanging fake exits on its own after this, if nobody stops it
RKE_VERSION = "v1.8.5"
# What `rke config --list-version --all` prints (rancher/kontainer-driver-metadata, v1.8 series).
RKE_K8S_VERSIONS = ["v1.28.15-rancher1-1", "v1.29.15-rancher1-1", "v1.30.13-rancher1-1",
                    "v1.30.14-rancher1-1", "v1.31.9-rancher1-1", "v1.32.5-rancher1-1"]


class Usage(Exception):
    pass


def fake_dir() -> Path:
    return Path(os.environ["SEEDBED_FAKE_DIR"])


def control(tool: str) -> dict[str, Any]:
    path = fake_dir() / "control.json"
    return json.loads(path.read_text()).get(tool, {}) if path.exists() else {}


def count(key: str) -> int:
    """How many times `key` was counted before this call (and count this one)."""
    path = fake_dir() / "counters.json"
    with open(fake_dir() / ".lock", "w") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        counters = json.loads(path.read_text()) if path.exists() else {}
        seen = counters.get(key, 0)
        counters[key] = seen + 1
        path.write_text(json.dumps(counters))
    return seen


def record(entry: dict[str, Any]) -> None:
    entry.update(pid=os.getpid(), cwd=os.getcwd(), time=time.time(),
                 kubeconfig=os.environ.get("KUBECONFIG"))
    with open(fake_dir() / "calls.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


def options(args: list[str], flags: set[str], valued: set[str]) -> tuple[list[str], dict]:
    positional, found = [], {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "=" in arg and arg.split("=")[0] in valued:
            key, value = arg.split("=", 1)
            found[key] = value
        elif arg in valued:
            if i + 1 >= len(args):
                raise Usage(f"flag needs an argument: {arg}")
            found[arg] = args[i + 1]
            i += 1
        elif arg in flags:
            found[arg] = True
        elif arg.startswith("-"):
            raise Usage(f"flag provided but not defined: {arg}")
        else:
            positional.append(arg)
        i += 1
    return positional, found


def hang(tool: str) -> None:
    print(f"{tool}: (fake) hanging until stopped", flush=True)
    deadline = time.time() + HANG_LIMIT
    while time.time() < deadline:
        time.sleep(0.2)
    sys.exit(1)


def should_fail(tool: str, key: str) -> bool:
    rule = control(tool)
    if rule.get("only") and rule["only"] != key:
        return False
    return count(f"{tool}:{key}") < int(rule.get("fail_times", 0))


# -- rke ----------------------------------------------------------------------

def rke(args: list[str]) -> int:
    rule = control("rke")
    if args == ["--version"]:
        record({"tool": "rke", "argv": args, "files": {}, "outcome": "ok", "query": True})
        print(f"rke version {rule.get('version', RKE_VERSION)}")
        return 0
    if args[:1] == ["config"]:
        _, opts = options(args[1:], {"--list-version", "--all"}, set())
        if set(opts) != {"--list-version", "--all"}:
            raise Usage(f"fake rke config knows only --list-version --all, got {args}")
        record({"tool": "rke", "argv": args, "files": {}, "outcome": "ok", "query": True})
        print("\n".join(rule.get("k8s_versions", RKE_K8S_VERSIONS)))
        return 0
    positional, opts = options(args, {"--ignore-docker-version", "--update-only",
                                      "--disable-port-check"}, {"--config"})
    if positional != ["up"]:
        raise Usage(f"fake rke knows only `up`, `--version` and `config`, got {positional}")
    config = Path(opts.get("--config", "cluster.yml"))
    text = config.read_text()
    doc = yaml.safe_load(text)
    errors = rke_fields.validate(doc) + key_errors(doc)
    state = config.parent / "cluster.rkestate"
    entry = {"tool": "rke", "argv": args, "files": {str(config): text}, "errors": errors,
             "state_existed": state.exists()}
    print("INFO[0000] Running RKE version: v1.8.5 (fake)", flush=True)
    if errors:
        record(entry | {"outcome": "invalid"})
        for error in errors:
            print(f"FATA[0000] {error}", flush=True)
        return 1
    for node in doc["nodes"]:
        print(f"INFO[0001] [dialer] Setup tunnel for host [{node['address']}]", flush=True)
    if opts.get("--update-only") and not state.exists():
        print("WARN[0001] --update-only is ignored without a cluster state", flush=True)
    run = count("rke:runs")
    write_state(state, doc, run)  # rke saves its full state before touching the nodes
    if control("rke").get("hang"):
        record(entry | {"outcome": "hang"})
        print("INFO[0002] [etcd] Building up etcd plane..", flush=True)
        hang("rke")
    if should_fail("rke", "up"):
        record(entry | {"outcome": "fail"})
        print("FATA[0005] [workerPlane] Failed to bring up Worker Plane: (fake) failure", flush=True)
        return 1
    (config.parent / "kube_config_cluster.yml").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "local",
        "clusters": [{"name": "local", "cluster": {
            "server": f"https://{doc['nodes'][0]['address']}:6443"}}],
        "users": [{"name": "kube-admin-local", "user": {"client-key-data": f"FAKE{run}"}}],
    }))
    record(entry | {"outcome": "ok"})
    print("INFO[0010] Finished building Kubernetes cluster successfully", flush=True)
    return 0


def key_errors(doc: dict[str, Any]) -> list[str]:
    errors = []
    for node in doc.get("nodes") or []:
        path = Path(str(node.get("ssh_key_path") or doc.get("ssh_key_path") or ""))
        if not path.is_absolute() or not path.is_file():
            errors.append(f"ssh key {path} is missing")
        elif stat.S_IMODE(path.stat().st_mode) & 0o077:
            errors.append(f"ssh key {path} is readable by others")
        elif not path.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----"):
            errors.append(f"ssh key {path} is not an OpenSSH private key")
    return errors


def write_state(path: Path, doc: dict[str, Any], run: int) -> None:
    previous = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({"desiredState": {"rkeConfig": doc}, "run": run,
                                "previousRun": previous.get("run")}))


# -- helm ---------------------------------------------------------------------

def helm_homes() -> dict[str, Path]:
    """seedbed must give helm its own folders: the fake refuses to fall back to ~/.config."""
    homes = {}
    for name in ("HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"):
        if not os.environ.get(name):
            raise Usage(f"{name} is not set")
        homes[name] = Path(os.environ[name])
    return homes


def recorded_index() -> dict[str, dict[str, list[str]]]:
    index = yaml.safe_load((HERE / "helm_index.yaml").read_text())
    for url, chart, version in control("helm").get("drop", []):
        index[url][chart] = [v for v in index[url][chart] if str(v) != version]
    return index


def helm_repo(args: list[str]) -> int:
    """`repo add NAME URL [--force-update]`, `repo update NAME...`: offline, from the recorded index."""
    positional, opts = options(args, {"--force-update"}, set())
    homes = helm_homes()
    repos_file = homes["HELM_CONFIG_HOME"] / "repositories.yaml"
    repos = yaml.safe_load(repos_file.read_text()) if repos_file.exists() else {"repositories": []}
    known = {r["name"]: r["url"] for r in repos["repositories"]}
    entry = {"tool": "helm", "argv": ["repo", *args], "files": {}, "release": None, "query": True}
    if positional[:1] == ["add"] and len(positional) == 3:
        name, url = positional[1:]
        if name in known and known[name] != url and not opts.get("--force-update"):
            raise Usage(f"repository name ({name}) already exists, please specify a different name")
        if url not in recorded_index() or url in control("helm").get("unreachable", []):
            record(entry | {"outcome": "fail"})
            print(f"Error: looks like {url!r} is not a valid chart repository or cannot be reached")
            return 1
        known[name] = url
        repos_file.parent.mkdir(parents=True, exist_ok=True)
        repos_file.write_text(yaml.safe_dump({"repositories": [
            {"name": n, "url": u} for n, u in known.items()]}))
        record(entry | {"outcome": "ok"})
        print(f'"{name}" has been added to your repositories')
        return 0
    if positional[:1] == ["update"] and len(positional) >= 2:
        cache = homes["HELM_CACHE_HOME"] / "repository"
        cache.mkdir(parents=True, exist_ok=True)
        for name in positional[1:]:
            if name not in known:
                raise Usage(f"no repositories found matching '{name}'. Nothing will be updated")
            (cache / f"{name}-index.yaml").write_text(yaml.safe_dump(recorded_index()[known[name]]))
            print(f'...Successfully got an update from the "{name}" chart repository')
        record(entry | {"outcome": "ok"})
        return 0
    raise Usage(f"fake helm knows only `repo add NAME URL` and `repo update NAME...`, got {args}")


def helm_search(args: list[str]) -> int:
    """`search repo REPO/CHART --versions --output json`, from the index `repo update` cached."""
    positional, opts = options(args, {"--versions"}, {"--output"})
    if len(positional) != 2 or positional[0] != "repo" or "/" not in positional[1]:
        raise Usage(f"fake helm search needs `repo REPO/CHART`, got {args}")
    if not opts.get("--versions") or opts.get("--output") != "json":
        raise Usage("fake helm search needs --versions --output json")
    name, chart = positional[1].split("/", 1)
    cached = helm_homes()["HELM_CACHE_HOME"] / "repository" / f"{name}-index.yaml"
    if not cached.exists():
        raise Usage(f"no repository {name} in the cache: run `helm repo update {name}` first")
    index = yaml.safe_load(cached.read_text())
    found = [{"name": f"{name}/{c}", "version": str(v), "app_version": str(v),
              "description": "(fake)"} for c, versions in index.items() if c.startswith(chart)
             for v in versions]
    record({"tool": "helm", "argv": ["search", *args], "files": {}, "release": None,
            "outcome": "ok", "query": True})
    print(json.dumps(found))
    return 0


def helm(args: list[str]) -> int:
    if args[:1] == ["repo"]:
        return helm_repo(args[1:])
    if args[:1] == ["search"]:
        return helm_search(args[1:])
    positional, opts = options(args, {"--install", "--create-namespace", "--wait"},
                               {"--repo", "--version", "--namespace", "--timeout", "--values"})
    if positional[:1] != ["upgrade"] or not opts.get("--install") or len(positional) != 3:
        raise Usage(f"fake helm knows only `upgrade --install NAME CHART`, got {args}")
    release, chart = positional[1:]
    for required in ("--version", "--namespace", "--values", "--repo"):
        if required not in opts:
            raise Usage(f"{required} is required by the fake (pinned, repeatable installs)")
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if not Path(kubeconfig).is_file():
        raise Usage(f"Kubernetes cluster unreachable: KUBECONFIG {kubeconfig!r} is not a file")
    values_text = Path(opts["--values"]).read_text()
    if not isinstance(yaml.safe_load(values_text), dict):
        raise Usage("values file is not a mapping")
    entry = {"tool": "helm", "argv": args, "release": release, "chart": chart,
             "files": {opts["--values"]: values_text}}
    if should_fail("helm", release):
        record(entry | {"outcome": "fail"})
        print(f"Error: UPGRADE FAILED: (fake) {release} timed out waiting for the condition")
        return 1
    record(entry | {"outcome": "ok"})
    print(f'Release "{release}" has been upgraded. Happy Helming!\nSTATUS: deployed')
    return 0


# -- kubectl ------------------------------------------------------------------

def kubectl(args: list[str]) -> int:
    positional, opts = options(args, set(), {"--namespace", "--for", "--timeout", "--filename",
                                             "--output"})
    if positional == ["get", "nodes"]:
        return kubectl_get_nodes(args, opts)
    if positional[:1] == ["wait"]:
        if not opts.get("--for") or len(positional) != 2:
            raise Usage(f"fake kubectl wait needs --for and a resource, got {args}")
        record({"tool": "kubectl", "argv": args, "files": {}, "outcome": "ok"})
        print(f"{positional[1]} condition met")
        return 0
    if positional != ["apply"] or "--filename" not in opts:
        raise Usage(f"fake kubectl knows only `wait` and `apply --filename`, got {args}")
    text = Path(opts["--filename"]).read_text()
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    for doc in docs:
        if not {"apiVersion", "kind", "metadata"} <= set(doc) or "name" not in doc["metadata"]:
            raise Usage(f"not a Kubernetes object: {doc}")
    entry = {"tool": "kubectl", "argv": args, "files": {opts["--filename"]: text}}
    if should_fail("kubectl", "apply"):
        record(entry | {"outcome": "fail"})
        print('Error from server (InternalError): Internal error occurred: failed calling '
              'webhook "ipaddresspoolvalidationwebhook.metallb.io": connection refused')
        return 1
    record(entry | {"outcome": "ok"})
    for doc in docs:
        print(f"{doc['kind'].lower()}/{doc['metadata']['name']} created")
    return 0


# -- RKE2 ---------------------------------------------------------------------------------------

SUPERVISOR_PORT, API_PORT = 9345, 6443
KUBECONFIG_ON_NODE = "/etc/rancher/rke2/rke2.yaml"


def rke2_cluster() -> dict[str, Any] | None:
    path = fake_dir() / "rke2-cluster.json"
    return json.loads(path.read_text()) if path.exists() else None


def save_rke2_cluster(cluster: dict[str, Any]) -> None:
    (fake_dir() / "rke2-cluster.json").write_text(json.dumps(cluster))


def fake_ca() -> str:
    body = base64.b64encode(secrets.token_bytes(96)).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def token_problem(token: str, cluster: dict[str, Any]) -> str | None:
    """rke2's check of a joining token: the secret, or K10<CA sha256>::server:<secret>."""
    if token == cluster["secret"]:
        return None
    if not token.startswith("K10"):
        return "token rejected: not the cluster's secret"
    digest, _, rest = token[3:].partition("::")
    ca_digest = hashlib.sha256(cluster["ca"].encode()).hexdigest()
    if digest != ca_digest:
        return f"token CA hash {digest} does not match the cluster CA hash {ca_digest}"
    if rest != f"server:{cluster['secret']}":
        return "token rejected: not the cluster's secret"
    return None


def rke2(args: list[str]) -> int:
    """`rke2 server|agent --config FILE`: join the fake cluster, as rke2's start would."""
    positional, opts = options(args, set(), {"--config"})
    if positional not in (["server"], ["agent"]) or "--config" not in opts:
        raise Usage(f"fake rke2 knows only `server|agent --config FILE`, got {args}")
    command = positional[0]
    text = Path(opts["--config"]).read_text()
    config = yaml.safe_load(text)
    errors = rke2_flags.validate(config, command)
    entry = {"tool": "rke2", "argv": args, "files": {opts["--config"]: text}, "errors": errors}
    if not errors:
        errors = join_errors(config, command)
    if errors:
        record(entry | {"outcome": "invalid", "errors": errors})
        for error in errors:
            print(f"level=fatal msg=\"{error}\"", flush=True)
        return 1
    record(entry | {"outcome": "ok"})
    print(f"level=info msg=\"rke2 {command} {config['node-name']} joined (fake)\"", flush=True)
    return 0


def join_errors(config: dict[str, Any], command: str) -> list[str]:
    cluster = rke2_cluster()
    name, address = config.get("node-name"), (config.get("node-ip") or [None])[0]
    if not name or not address:
        return ["the fake needs node-name and node-ip"]
    if cluster is None:
        if command != "server" or "server" in config:
            return [f"no cluster to join at {config.get('server')}: the first server starts it"]
        if not config.get("token"):
            return ["the first server needs a token"]
        cluster = {"secret": config["token"], "ca": fake_ca(), "first": address,
                   "kubeconfig_group": config.get("write-kubeconfig-group"),
                   "kubeconfig_mode": config.get("write-kubeconfig-mode"), "nodes": {}}
    else:
        wanted = f"https://{cluster['first']}:{SUPERVISOR_PORT}"
        if name in cluster["nodes"] and cluster["nodes"][name]["ip"] == cluster["first"]:
            pass  # the first server restarting: same config, no server key
        elif config.get("server") != wanted:
            return [f"server: {config.get('server')!r} is not the first server's {wanted}"]
        problem = token_problem(str(config.get("token", "")), cluster)
        if problem:
            return [problem]
    cluster["nodes"][name] = {"ip": address, "type": command,
                              "labels": config.get("node-label", []),
                              "taints": config.get("node-taint", [])}
    save_rke2_cluster(cluster)
    return []


def ssh(args: list[str]) -> int:
    """ssh to a fake node: only `cat` of the kubeconfig rke2 wrote on the first server."""
    i, opts = 0, {}
    while i < len(args) and args[i].startswith("-"):
        if args[i] in ("-i", "-p", "-o", "-L", "-l"):
            if i + 1 >= len(args):
                raise Usage(f"option requires an argument -- {args[i]}")
            opts.setdefault(args[i], []).append(args[i + 1])
            i += 2
        elif args[i] in ("-N", "-T", "-q"):
            i += 1
        else:
            raise Usage(f"unknown option -- {args[i]}")
    if i >= len(args) or "@" not in args[i]:
        raise Usage("usage: ssh [options] user@host [command]")
    user, host = args[i].split("@", 1)
    command = args[i + 1:]
    entry = {"tool": "ssh", "argv": args, "files": {}}
    problems = [e for e in key_errors({"nodes": [{"ssh_key_path": (opts.get("-i") or [""])[-1]}]})]
    if "BatchMode=yes" not in opts.get("-o", []):
        problems.append("BatchMode=yes missing: ssh would prompt in a job")
    cluster = rke2_cluster()
    node = next((n for n in (cluster or {"nodes": {}})["nodes"].values() if n["ip"] == host), None)
    if node is None:
        problems.append(f"ssh: connect to host {host} port 22: No route to host (no such node)")
    elif command != ["cat", KUBECONFIG_ON_NODE] or host != cluster["first"]:
        problems.append(f"the fake node {host} only serves `cat {KUBECONFIG_ON_NODE}` on the "
                        f"first server, got {command}")
    elif user != cluster["kubeconfig_group"] or cluster["kubeconfig_mode"] != "0640":
        problems.append(f"cat: {KUBECONFIG_ON_NODE}: Permission denied (user {user}, group "
                        f"{cluster['kubeconfig_group']}, mode {cluster['kubeconfig_mode']})")
    if problems:
        record(entry | {"outcome": "fail", "errors": problems})
        print("\n".join(problems), file=sys.stderr)
        return 255 if node is None else 1
    record(entry | {"outcome": "ok"})
    print(rke2_kubeconfig(cluster), end="")
    return 0


def rke2_kubeconfig(cluster: dict[str, Any]) -> str:
    """The rke2.yaml the first server writes: the loopback API, the cluster CA, a client key."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "default",
        "clusters": [{"name": "default", "cluster": {
            "server": f"https://127.0.0.1:{API_PORT}",
            "certificate-authority-data": base64.b64encode(cluster["ca"].encode()).decode()}}],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
        "users": [{"name": "default", "user": {"client-key-data": "FAKEKEY"}}],
    })


def kubectl_get_nodes(args: list[str], opts: dict[str, Any]) -> int:
    """The fake cluster's nodes, with a kubeconfig for its API and CA only."""
    if opts.get("--output") != "json":
        raise Usage("the fake kubectl get nodes needs --output json")
    entry = {"tool": "kubectl", "argv": args, "files": {}}
    cluster = rke2_cluster()
    config = yaml.safe_load(Path(os.environ.get("KUBECONFIG", "/nonexistent")).read_text())
    server = config["clusters"][0]["cluster"]
    problem = None
    if cluster is None:
        problem = "no cluster"
    elif server.get("server") != f"https://{cluster['first']}:{API_PORT}":
        problem = (f"Unable to connect to the server: dial tcp {server.get('server')}: "
                   "connection refused")
    elif base64.b64decode(server.get("certificate-authority-data", "")).decode() != cluster["ca"]:
        problem = "Unable to connect to the server: x509: certificate signed by unknown authority"
    if problem:
        record(entry | {"outcome": "fail", "error": problem})
        print(problem, file=sys.stderr)
        return 1
    not_ready = set(control("kubectl").get("not_ready", []))
    items = [{"metadata": {"name": name, "labels": dict(lb.split("=", 1) for lb in node["labels"])},
              "spec": {"taints": node["taints"]},
              "status": {"conditions": [{"type": "Ready", "status":
                                         "False" if name in not_ready else "True"}]}}
             for name, node in cluster["nodes"].items()]
    record(entry | {"outcome": "ok", "nodes": sorted(cluster["nodes"])})
    print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return 0


def main(tool: str, args: list[str]) -> int:
    try:
        return {"rke": rke, "helm": helm, "kubectl": kubectl, "rke2": rke2, "ssh": ssh}[tool](args)
    except Usage as exc:
        record({"tool": tool, "argv": args, "files": {}, "outcome": "usage", "error": str(exc)})
        print(f"{tool}: {exc}", file=sys.stderr)
        return 2


def install(bin_dir: Path, tools: tuple[str, ...] = ("rke", "helm", "kubectl")) -> None:
    """Write the executables into bin_dir, each running this module (ssh only when asked:
    the tests against real sshd need the real one)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        script = bin_dir / tool
        script.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(HERE)!r})\n"
                          f"import fake_tool\nsys.exit(fake_tool.main({tool!r}, sys.argv[1:]))\n")
        script.chmod(0o755)


def calls(directory: Path, tool: str | None = None, queries: bool = False) -> list[dict[str, Any]]:
    """The calls made, in order; preflight's queries (versions, repositories) only if asked."""
    path = directory / "calls.jsonl"
    if not path.exists():
        return []
    found = [json.loads(line) for line in path.read_text().splitlines()]
    return [c for c in found if (tool is None or c["tool"] == tool)
            and (queries or not c.get("query"))]


def set_control(directory: Path, **tools: dict[str, Any]) -> None:
    (directory / "control.json").write_text(json.dumps(tools))
