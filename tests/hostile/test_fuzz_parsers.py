"""A short, bounded hypothesis run of every fuzz target (fuzz/targets.py); fuzz/run does the long ones.

Inputs: raw bytes, text made of the characters these formats use, JSON documents of feed shape,
and bit-flipped real samples.  A target may only raise the errors its parser documents.
"""

from __future__ import annotations

import json

import pytest
import targets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iotcop.firmware.elf import ElfError  # noqa: F401 - imported so the targets' error types resolve

FORMAT_CHARS = st.text(alphabet=st.sampled_from(list(":$!*#=[]{}-_./\\\"' \t\n\r\x00\x0c") + list("abcrootx0169")),
                       max_size=400)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "cve", "affected", "source_ref", "vulnerabilities", "format", "cveMetadata",
                         "containers", "cna", "versions", "ranges", "events", "package", "packages",
                         "distroversion", "secfixes", "component", "type", "schema_version", "modified",
                         "configurations", "nodes", "cpeMatch", "criteria", "metrics", "product", "vendor",
                         "resultsPerPage", "dataType", "pkg", "name", "version", "introduced", "fixed"]),
        inner, max_size=5),
    max_leaves=25)


def _seeds() -> list[bytes]:
    return [b"\x7fELF\x01\x01\x01" + bytes(60), b"hsqs" + bytes(120), b"sqsh" + bytes(120),
            b"\x27\x05\x19\x56" + bytes(60), b"\xd0\x0d\xfe\xed" + bytes(60), b"HDR0" + bytes(40),
            b"root:$1$abcdefgh$0123456789abcdefghijkl:0:0::/:/bin/sh\n", b"Contact: mailto:a@b.c\n",
            b"product:\n  name: x\n", b"Package: a\nVersion: 1\nStatus: install ok installed\n"]


@st.composite
def flipped_seed(draw):
    data = bytearray(draw(st.sampled_from(_seeds())))
    for pos in draw(st.lists(st.integers(0, len(data) - 1), max_size=6)):
        data[pos] ^= draw(st.integers(1, 255))
    return bytes(data)


INPUTS = st.one_of(st.binary(max_size=2048), FORMAT_CHARS.map(lambda t: t.encode()),
                   JSON_VALUES.map(lambda v: json.dumps(v).encode()), flipped_seed())
EXAMPLES = {"checks-on-configs": 25, "squashfs": 60, "declaration": 80, "vuln-feeds": 150}


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_parser_survives_arbitrary_input(name):
    fn, expected = targets.TARGETS[name], targets.EXPECTED[name]

    @settings(max_examples=EXAMPLES.get(name, 200), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=INPUTS)
    def run(data):
        try:
            fn(data)
        except expected:
            pass

    run()


def test_the_bugs_found_by_fuzzing_stay_fixed():
    from iotcop.declaration.load import DeclarationError, parse_text
    from iotcop.vulns.importers import detect_and_parse

    # a control character made the YAML reader raise outside the loader's error handling
    with pytest.raises(DeclarationError, match=r"decl.yaml:2: invalid YAML"):
        parse_text("product:\n  name: \x0c\n", "decl.yaml")
    # deep nesting ran out of recursion
    with pytest.raises(DeclarationError, match="nested too deeply"):
        parse_text("[" * 5_000, "decl.yaml")
    # a section of the wrong type (update: x) made the semantic checks raise AttributeError
    from iotcop.declaration.validate import check_parsed

    errors, _ = check_parsed(parse_text("update: x\nconditions: {abc: true}\nsupport: 3\n", "decl.yaml"))
    assert errors and all(e.startswith("decl.yaml:") for e in errors)
    # a feed record with the wrong types raised TypeError (exit 3) instead of an input error
    with pytest.raises(ValueError, match="malformed document"):
        list(detect_and_parse("feed.json", b'[{"affected": 1, "source_ref": 2}]'))
