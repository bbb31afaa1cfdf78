"""Checks on what the device starts at boot (EN 303 645 5.5 and 5.6)."""
