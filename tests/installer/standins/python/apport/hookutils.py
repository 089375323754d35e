"""Stand-in for apport.hookutils: attach files to a report."""
import os


def attach_hardware(report) -> None:
    pass


def attach_file_if_exists(report, path, key=None, **kwargs) -> None:
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            report[key or os.path.basename(path)] = f.read()
