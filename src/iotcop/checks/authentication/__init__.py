"""Checks of how users authenticate to the device and manage their authentication values (EN 303 645 5.1)."""
