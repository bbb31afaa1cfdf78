"""Checks that compare the firmware with the manufacturer declaration.

They declare REQUIRES_DECLARATION and read the declaration from the scan context.  These checks
only ever report contradictions (FAIL with both sides as evidence); without a declaration they
are not run.
"""
