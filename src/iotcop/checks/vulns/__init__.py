"""Checks on known vulnerabilities in the software components of the image (EN 303 645 5.2, 5.3)."""
