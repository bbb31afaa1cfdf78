"""Personal data, telemetry endpoints and sensors (EN 303 645 5.8, clause 6)."""
