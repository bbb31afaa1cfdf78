"""Input validation in web handlers (EN 303 645 5.13)."""
