"""Start subiquity's server in dry-run with stand-ins for what only Ubuntu's live ISO has.

- the ISO's apt tree: Debian keeps its sources in sources.list.d (deb822), while the
  ISO has /etc/apt/sources.list, which subiquity 23.02.1's apt step moves aside (24.04's
  dry-run overlay comes from its mounter: nothing to stand in for);
- the ISO's /etc/lsb-release (the model reads it without the dry-run switch): the
  example file $SEEDBED_LSB_RELEASE names, of the release being installed;
- the machine's /sys/class/block/DEV/queue/rotational, which 23.02.1 reads from the
  live system instead of the probe data: it comes from $SEEDBED_DRYRUN_SYSFS, written
  from the machine description.
"""
import builtins
import functools
import os
import runpy

from subiquity.models import filesystem
from subiquity.models import subiquity as subiquity_model
from subiquity.server import apt
from subiquitycore import lsb_release as lsb_release_module
from subiquitycore.lsb_release import lsb_release

_setup_overlay = getattr(apt.DryRunAptConfigurer, "setup_overlay", None)


async def setup_overlay(self, lowers):
    overlay = await _setup_overlay(self, lowers)
    sources = os.path.join(overlay.mountpoint, "etc/apt/sources.list")
    if not os.path.exists(sources):
        with open(sources, "w") as f:
            f.write("deb http://127.0.0.1:9/ubuntu focal main\n")
    return overlay


def machine_sysfs_open(path, *args, **kwargs):
    if isinstance(path, str) and path.startswith("/sys/class/block/"):
        path = os.path.join(os.environ["SEEDBED_DRYRUN_SYSFS"], path[len("/sys/class/block/"):])
    return builtins.open(path, *args, **kwargs)


if _setup_overlay is not None:
    apt.DryRunAptConfigurer.setup_overlay = setup_overlay
# Every dry-run reader of lsb-release (apt suites, kernel flavour packages) and the model.
lsb_release_module.LSB_RELEASE_EXAMPLE = os.environ["SEEDBED_LSB_RELEASE"]
subiquity_model.lsb_release = functools.partial(lsb_release, dry_run=True)
filesystem.open = machine_sysfs_open
runpy.run_module("subiquity.cmd.server", run_name="__main__", alter_sys=True)
