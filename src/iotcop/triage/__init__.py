"""Triage a team records on purpose: accepted risks (a baseline file with reasons and expiry dates),
VEX statements about vulnerabilities (CycloneDX), and the gate a CI job sets (`--fail-on`).

None of it changes what was observed: a baseline never turns a FAIL into a PASS; it only decides
whether that FAIL stops the pipeline, and every output says which findings were accepted, why and until
when.  VEX statements remove a vulnerability from a component the way the image's own evidence does
(a distribution's changelog), and the SBOM's VEX names the statement.
"""
