"""Power control: IPMI, Redfish, Wake-on-LAN and manual drivers behind one interface,
actions as recorded jobs, credentials in a 0600 file in the state folder."""

from .control import PowerBusy, PowerControl, PowerOptions, PowerUnavailable
from .driver import ACTIONS, Capabilities, PowerDriver, PowerError

__all__ = ["ACTIONS", "Capabilities", "PowerBusy", "PowerControl", "PowerDriver", "PowerError",
           "PowerOptions", "PowerUnavailable"]
