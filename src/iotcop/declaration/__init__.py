"""The manufacturer declaration: schema, loading with precise errors, security.txt, evidence, statement."""

from iotcop.declaration.load import DeclarationError
from iotcop.declaration.schema import Declaration, declaration_schema
from iotcop.declaration.validate import load_declaration, validate_file

__all__ = ["Declaration", "DeclarationError", "declaration_schema", "load_declaration", "validate_file"]
