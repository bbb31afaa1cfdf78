"""Software bill of materials: which components an image holds, with the evidence for each."""

from iotcop.sbom.identify import Component, components_as_dicts, identify_components

__all__ = ["Component", "components_as_dicts", "identify_components"]
