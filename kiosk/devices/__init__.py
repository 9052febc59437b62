"""Kiosk devices as small interfaces: camera, document reader, gate barrier. Chosen in the configuration."""
