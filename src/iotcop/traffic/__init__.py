"""Packet captures of the device's traffic as evidence (see README "Network evidence")."""
