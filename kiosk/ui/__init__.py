"""The kiosk's Qt front ends: the only package that imports PySide6, and nothing imports it (the ``kiosk``
command line imports it inside the command that opens a window)."""
