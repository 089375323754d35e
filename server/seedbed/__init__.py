"""seedbed: PXE provisioning for a small GPU lab."""

__version__ = "0.1.0"
