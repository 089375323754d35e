"""`seedbed power on|off|cycle|status|set-credentials NODE`: drive a node's power."""

from __future__ import annotations

import argparse
import getpass
import sys

from ..power import PowerControl, PowerUnavailable
from ..power.jobs import PowerJob
from .common import Commands, ago, open_seedbed, with_state

WAIT_SECONDS = 300  # an action and its retries (the default back-off sums to 30 s)


def add_commands(commands: Commands) -> None:
    p = commands.command("power", power, "power a node on, off or cycle it, read its power "
                         "state, or store its BMC password (read from the terminal or stdin)")
    with_state(p)
    p.add_argument("action", choices=["on", "off", "cycle", "status", "set-credentials"])
    p.add_argument("hostname")
    add_wait_options(p)


def add_wait_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-wait", action="store_true",
                   help="queue the action and return (the running service carries it out)")
    p.add_argument("--timeout", type=float, default=WAIT_SECONDS,
                   help=f"seconds to wait for the action and its retries (default {WAIT_SECONDS})")


def power(args: argparse.Namespace) -> int:
    service = open_seedbed(args)
    if args.action == "set-credentials":
        return set_credentials(service.power, args.hostname)
    if args.action == "status":
        return status(service.power, args.hostname)
    return act(service.power, args.hostname, args.action, args)


def act(control: PowerControl, hostname: str, action: str, args: argparse.Namespace) -> int:
    """Queue `action` as cli, then run or wait for it; 0 once it succeeded."""
    return follow(control, control.request(hostname, action, who="cli"), args)


def follow(control: PowerControl, job_id: int, args: argparse.Namespace) -> int:
    """Run or wait for a queued job (unless --no-wait); 0 once it succeeded."""
    if args.no_wait:
        job = control.jobs.job(job_id)
        assert job is not None
        print(f"{job.hostname}: power {job.action} queued as job #{job_id}")
        return 0
    job = control.run_until_done(job_id, args.timeout)
    print(describe_job(job))
    return 0 if job.state == "succeeded" else 1


def describe_job(job: PowerJob) -> str:
    return f"{job.hostname}: power {job.action} {job.state} (job #{job.id}): {job.outcome}"


def status(control: PowerControl, hostname: str) -> int:
    summary = control.summary(hostname)
    if summary["problem"]:
        print(f"{hostname}: {summary['problem']}")
    elif summary["instructions"]:
        print(f"{hostname}: manual power control: {summary['instructions']}")
    else:
        can = [name for name, yes in summary["capabilities"].items() if yes]
        print(f"{hostname}: {summary['target']} (can: {', '.join(can)})")
        if summary["capabilities"]["status"]:
            now = control.read_status(hostname)
            error = f" ({now['error']})" if now["error"] else ""
            print(f"power: {now['state']}{error}, read {ago(now['checked_at'])}")
    for job in summary["jobs"]:
        print(f"  job #{job['id']} {job['action']} by {job['who']}: {job['state']}"
              f" {ago(job['finished_at'] or job['created_at'])}: {job['outcome'] or ''}".rstrip(": "))
    return 1 if summary["problem"] else 0


def set_credentials(control: PowerControl, hostname: str) -> int:
    """The BMC password from the terminal (not echoed) or one line of stdin; never argv."""
    node = control.inventory().node_by_hostname(hostname)
    if node is None or node.power is None or not node.power.needs_secret:
        raise PowerUnavailable(f"{hostname} has no ipmi or redfish `power:` in the inventory")
    name = node.power.secret_name(hostname)
    if sys.stdin.isatty():
        password = getpass.getpass(f"BMC password for {node.power.username} ({name}): ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    control.secrets.set(name, password)
    print(f"{hostname}: credential {name!r} stored in {control.secrets.path} (0600)")
    return 0
