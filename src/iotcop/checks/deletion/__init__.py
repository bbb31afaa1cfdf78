"""User data deletion: factory-reset mechanisms (EN 303 645 5.11)."""
