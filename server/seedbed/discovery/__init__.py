"""Discovery boots: an unknown machine reports its hardware to seedbed, which stores the
facts with the discovered MAC and suggests how to accept it into the inventory.

boot (report-only deploy ramdisk, seedbed.boot) → facts posted with a one-use token
(reports, web/discovery) → store.discovered()[i]["facts"] → suggest_accept.
"""

from .facts import DiscoveryFacts, hardware_summary, stored_facts
from .suggest import suggest_accept, system_disk_selector

__all__ = ["DiscoveryFacts", "hardware_summary", "stored_facts", "suggest_accept", "system_disk_selector"]
