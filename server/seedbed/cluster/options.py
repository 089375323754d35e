"""Run-time knobs of cluster jobs: retries, back-off and time-outs (env-configurable)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from ..errors import SeedbedError


class ClusterOptionsError(SeedbedError, ValueError):
    """A SEEDBED_CLUSTER_* value seedbed cannot use."""


@dataclass(frozen=True)
class ClusterOptions:
    auto: bool = True  # ready callbacks start jobs; off: only `cluster up` does
    attempts: int = 3  # runs of one job before it is left failed
    backoff_seconds: float = 60.0  # wait before retry n is backoff * 2**(n-1) ...
    backoff_max_seconds: float = 900.0  # ... capped here
    rke_timeout: float = 3600.0
    helm_timeout: float = 900.0  # passed to helm --timeout; the process gets a minute more
    webhook_timeout: float = 300.0  # MetalLB's webhook must accept the pool within this
    poll_seconds: float = 5.0  # between tries while waiting for a webhook or for nodes
    nodes_timeout: float = 1800.0  # RKE2: every member Ready in `kubectl get nodes` within this
    ssh_timeout: float = 60.0  # RKE2: collecting the first server's kubeconfig over SSH
    preflight_skip: str = ""  # comma-separated preflight checks not to run (e.g. "dns,ssh")
    # Ready reports are planned together once none came for ready_settle_seconds, or at the
    # latest ready_settle_max_seconds after the first: a lab powered on at once is one plan.
    ready_settle_seconds: float = 2.0
    ready_settle_max_seconds: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based)."""
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.backoff_max_seconds)

    @property
    def preflight_skipped(self) -> list[str]:
        return [name.strip() for name in self.preflight_skip.split(",") if name.strip()]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClusterOptions:
        """SEEDBED_CLUSTER_<FIELD> overrides a field, e.g. SEEDBED_CLUSTER_BACKOFF_SECONDS=5."""
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f"SEEDBED_CLUSTER_{f.name.upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _parse(f.type, raw)
            except ValueError:
                raise ClusterOptionsError(f"{name}={raw!r} is not a valid {f.type}") from None
        options = cls(**values)  # type: ignore[arg-type]
        from .preflight import known_checks  # preflight reaches the inventory; options need not

        try:
            known_checks(options.preflight_skipped)
        except ValueError as exc:
            raise ClusterOptionsError(f"SEEDBED_CLUSTER_PREFLIGHT_SKIP: {exc}") from None
        delays = (options.backoff_seconds, options.poll_seconds, options.ready_settle_seconds,
                  options.ready_settle_max_seconds)
        if options.attempts < 1 or min(delays) < 0:
            raise ClusterOptionsError("SEEDBED_CLUSTER_ATTEMPTS must be >= 1 and delays >= 0")
        return options


def _parse(kind: object, raw: str) -> object:
    if kind in (bool, "bool"):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if kind in (str, "str"):
        return raw
    if kind in (int, "int"):
        return int(raw)
    return float(raw)
