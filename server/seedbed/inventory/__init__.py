"""The lab inventory: one YAML file describing the site, the admin account and the nodes.

Loading reports every problem at once, each naming the field and, where the
YAML parser can tell, the line. Unknown keys are errors: a typo must never be
silently ignored. One module per section, each with its checks beside it.
"""

from .cluster import Cluster, ClusterTools, NfsExport, RancherSettings
from .fields import normalize_mac
from .image import ImageSettings
from .lan import Dhcp, DhcpRange, Ldap
from .load import InventoryError, LoadedInventory, load_inventory, parse_inventory
from .model import Inventory
from .node import DiskSelector, InstallMethod, Node, Role
from .rules import Problem, cross_check
from .site import Admin, AptSettings, BootProfile, Installer, SeedKind, Site, Software

__all__ = [
    "Admin", "AptSettings", "BootProfile", "Cluster", "ClusterTools", "Dhcp", "DhcpRange",
    "DiskSelector", "ImageSettings", "InstallMethod", "Installer", "Inventory", "InventoryError",
    "Ldap", "LoadedInventory", "NfsExport", "Node", "Problem", "RancherSettings", "Role",
    "SeedKind", "Site", "Software", "cross_check", "load_inventory", "normalize_mac",
    "parse_inventory",
]
