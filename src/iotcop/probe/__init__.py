"""Live probes of a device on the network: what it exposes and whether its logins are defaults."""
