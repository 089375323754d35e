"""Every limit seedbed puts on what it reads and what strangers may write, in one place.

PXE has no login, so anything on the LAN can boot, report and post. These numbers
bound the inventory loader's work and the store's size whatever arrives; the
README's threat model quotes them.
"""

from __future__ import annotations

# -- the inventory file (validate, serve's reload, the admin API's edits) -----------------

#: A 50-node lab with comments is ~15 KiB; larger files are refused before parsing.
INVENTORY_MAX_BYTES = 256 * 1024
#: Mappings and sequences nested deeper than this are refused while parsing.
INVENTORY_MAX_DEPTH = 32
#: Values after expanding every alias: an alias bomb is refused before anything walks it.
INVENTORY_MAX_VALUES = 50_000

# -- what unauthenticated machines may write into the store --------------------------------

#: Unknown MACs remembered under /api/v1/discovered; the least recently seen roll off.
DISCOVERED_MAX = 512
#: Events kept per node, per install, and without a node (discovered machines); the oldest
#: roll off and the number dropped is counted per scope.
EVENTS_PER_NODE = 2_000
EVENTS_PER_INSTALL = 1_000
EVENTS_WITHOUT_NODE = 2_000
#: Installs kept per node: every boot of an armed node begins one; the oldest roll off
#: (their tokens were superseded long before).
INSTALLS_PER_NODE = 100
#: Characters kept of each field of a curtin webhook event (a 1 MiB description is cut).
REPORT_FIELD_CHARS = 512
#: Webhook events accepted per install token in any 60 s; more answer 429.
REPORTS_PER_MINUTE = 600
#: Bytes of a first-boot facts report (a real one is a few KiB).
FACTS_MAX_BYTES = 64 * 1024
#: Characters kept of the installer's log tail posted with a failure.
FAILURE_LOG_CHARS = 64 * 1024
#: Bytes of any request body (413 beyond).
REQUEST_MAX_BYTES = 1024 * 1024
#: The SQLite write-ahead log is truncated back to this size after a checkpoint.
WAL_MAX_BYTES = 4 * 1024 * 1024
#: Records (boots, discovered MACs, seed fetches) queued for the store's writer thread; past
#: it a record waits like a write does, so a flood while the disk stalls costs the flood
#: time, not the service its memory (plus the one batch being written: seedbed.batch_writer).
RECORDS_QUEUED_MAX = 10_000
#: Bytes of a discovery boot's hardware report (a 2-socket box with 24 disks is ~10 KiB).
DISCOVERY_FACTS_MAX_BYTES = 32 * 1024
#: How long a discovery boot's report credential is honoured after the boot script was served.
DISCOVERY_REPORT_TTL_SECONDS = 30 * 60

# -- the operator's console (web/console) ---------------------------------------------------

#: Failed sign-ins from one address within the window; more get 429 until it passes.
CONSOLE_LOGIN_FAILURES = 5
CONSOLE_LOGIN_WINDOW_SECONDS = 60
#: Addresses whose failures are remembered at once (the oldest are forgotten first).
CONSOLE_LOGIN_ADDRESSES = 4096
#: A console session lasts this long after sign-in.
CONSOLE_SESSION_SECONDS = 12 * 3600
#: A live stream (Server-Sent Events) sends a comment this often, looks for news this often,
#: and ends after this long (the browser reconnects on its own).
CONSOLE_STREAM_HEARTBEAT_SECONDS = 10
CONSOLE_STREAM_POLL_SECONDS = 1.0
CONSOLE_STREAM_MAX_SECONDS = 600
#: Events on a machine's timeline page, and lines of a failure log or job log shown.
CONSOLE_TIMELINE_EVENTS = 300
CONSOLE_LOG_TAIL_LINES = 200
