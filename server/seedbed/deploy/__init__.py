"""Image-based installs: the golden image build, the deploy ramdisk, and each node's deploy plan.

- `plan`: the JSON plan a node's deploy ramdisk fetches from /seed/TOKEN/deploy.json.
- `ramdisk`: builds the deploy ramdisk (kernel + initramfs) from Debian packages.
- `golden`: `make image`: preflight checks, the build seed, and the Packer run.
- `build`: cached, atomic artifact builds shared by the above and the tests.
"""
