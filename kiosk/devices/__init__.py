"""Kiosk devices as small interfaces: camera, document reader, gate barrier, PAD sensor. Chosen in the
configuration."""
