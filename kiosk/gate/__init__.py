"""The gate room: the flow (a plain state machine), its events and ports, the assembly of a gate from its
configuration, the driver a headless loop or a Qt worker calls, and the ``kiosk run`` / ``kiosk verify``
commands. Nothing here imports Qt."""
