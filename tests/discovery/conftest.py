"""The discovery boot test reuses the boot harness's guest and the image tests' deploy ramdisk."""

from boot.conftest import boot_requirements, boot_timings, guest  # noqa: F401 - fixtures by name
from image.conftest import deploy_ramdisk, image_requirements  # noqa: F401
