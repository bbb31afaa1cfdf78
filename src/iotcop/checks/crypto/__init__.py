"""Checks on cryptographic material shipped in the image (EN 303 645 5.4)."""
