"""iotcop: consumer IoT security checks against the UK Code of Practice, ETSI EN 303 645 and PSTI."""

__version__ = "0.1.0"
