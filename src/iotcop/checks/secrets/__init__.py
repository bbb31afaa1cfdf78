"""Checks on secrets shipped in the image: tokens, API keys, Wi-Fi passphrases, readable secret files (EN 303 645 5.4)."""
