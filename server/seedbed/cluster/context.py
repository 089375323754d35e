"""What a running job gives the steps it runs: its folder, log, environment and limits."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import proc
from .options import ClusterOptions
from .state import ClusterPaths


@dataclass
class JobContext:
    job_id: int
    paths: ClusterPaths
    log: proc.Log
    env: dict[str, str]
    options: ClusterOptions
    on_start: Callable[[proc.Started], None] | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    stages: list[str] = field(default_factory=list)
    on_stage: Callable[[str], None] | None = None

    def stage(self, name: str) -> None:
        self.stages.append(name)
        if self.on_stage is not None:
            self.on_stage(name)

    def run(self, argv: Sequence[str], stage: str, timeout: float,
            log_output: bool = True) -> str:
        """Run one command in the working folder; CommandFailed names `stage`."""
        self.stage(stage)
        return proc.run(argv, stage=stage, cwd=self.paths.work, env=self.env, timeout=timeout,
                        log=self.log, on_start=self.on_start, log_output=log_output)

    def note(self, text: str) -> None:
        self.log.write(f"# {text}\n")
