"""The ELF reader against LIEF on real binaries (FACT_core hardening fixtures and this machine's)."""

from __future__ import annotations

import glob
import os

import lief
import pytest
from support import corpus_file

from iotcop.firmware.elf import ElfError, parse_elf

lief.logging.disable()

HALLO = ["Hallo_Canary", "Hallo_SafeStack", "Hallo_cfi", "Hallo_no_pie", "Hallo_rpath", "Hallo_runpath",
         "Hallo_stripped", "Hallo.out", "Hallo.so", "Hallo.o"]


def _lief_facts(path):
    b = lief.ELF.parse(str(path))
    tags = {d.tag for d in b.dynamic_entries}
    T = lief.ELF.DynamicEntry.TAG
    flags = b.get(T.FLAGS).value if T.FLAGS in tags else 0
    flags1 = b.get(T.FLAGS_1).value if T.FLAGS_1 in tags else 0
    relro = "none"
    if any(s.type == lief.ELF.Segment.TYPE.GNU_RELRO for s in b.segments):
        relro = "full" if (T.BIND_NOW in tags or flags & 8 or flags1 & 1) else "partial"
    return {
        "needed": list(b.libraries),
        "nx": b.has_nx if b.segments else None,
        "relro": relro,
        "rpath": [p for e in b.dynamic_entries if e.tag == T.RPATH for p in e.paths],
        "runpath": [p for e in b.dynamic_entries if e.tag == T.RUNPATH for p in e.paths],
        "interpreter": b.interpreter if b.has_interpreter else None,
    }


@pytest.mark.parametrize("name", HALLO)
def test_hardening_facts_match_lief_on_fact_fixtures(name):
    path = corpus_file("FACT_core", f"exploit_mitigations__{name}")
    ours = parse_elf(path.read_bytes())
    ref = _lief_facts(path)
    assert list(ours.needed) == ref["needed"]
    assert ours.nx == ref["nx"]
    assert ours.relro == ref["relro"]
    assert list(ours.rpath) == ref["rpath"] and list(ours.runpath) == ref["runpath"]
    assert ours.interpreter == ref["interpreter"]


def test_fact_expectations():
    # FACT_core's exploit_mitigations tests: canary / no-PIE / rpath / runpath / stripped variants.
    info = {n: parse_elf(corpus_file("FACT_core", f"exploit_mitigations__{n}").read_bytes()) for n in HALLO}
    assert info["Hallo_Canary"].canary
    assert not info["Hallo_no_pie"].pie and info["Hallo_Canary"].pie
    assert info["Hallo_rpath"].rpath and not info["Hallo_rpath"].runpath
    assert info["Hallo_runpath"].runpath
    assert info["Hallo_stripped"].stripped and not info["Hallo_Canary"].stripped
    assert info["Hallo.o"].elf_type == "REL" and info["Hallo.so"].elf_type == "DYN"


def test_imports_match_lief_on_system_binaries():
    paths = [p for p in sorted(glob.glob("/usr/bin/*"))[:400] if os.path.isfile(p) and not os.path.islink(p)]
    compared = mismatched = 0
    for p in paths:
        with open(p, "rb") as fh:
            data = fh.read()
        if data[:4] != b"\x7fELF":
            continue
        ours = parse_elf(data)
        binary = lief.ELF.parse(p)  # keep it alive while its symbols are read
        ref = {s.name for s in binary.imported_symbols}
        compared += 1
        mismatched += set(ours.imported) != ref
    assert compared > 50
    assert mismatched / compared < 0.05


_PHDRS_PAST_END = (b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00\x3e\x00" + b"\x00" * 12
                   + (0x1000).to_bytes(8, "little") + b"\x00" * 14 + b"\x38\x00\x01\x00" + b"\x00" * 6)


@pytest.mark.parametrize("blob", [b"\x7fELF", b"\x7fELF\x03\x01" + b"\x00" * 60, _PHDRS_PAST_END])
def test_malformed_elf_raises_a_clean_error(blob):
    with pytest.raises(ElfError):
        parse_elf(blob)


def test_truncated_real_binary_does_not_crash():
    data = open("/bin/ls", "rb").read()
    for cut in (64, 200, 1000, 5000, len(data) // 2):
        try:
            parse_elf(data[:cut])
        except ElfError:
            pass


def test_data_symbols_give_file_offsets_of_defined_objects(tmp_path):
    import shutil
    import subprocess

    from iotcop.firmware.elf import data_symbols

    if shutil.which("gcc") is None:
        pytest.fail("gcc is required (scripts/setup installs it)")
    src = tmp_path / "k.c"
    src.write_text('const unsigned char gEcbKey1[8] = "abcdefgh";\nunsigned char table_key[16];\nint counter = 3;\n')
    lib = tmp_path / "libk.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True, capture_output=True, timeout=60)
    data = lib.read_bytes()
    found = data_symbols(data, lambda name, size: True)
    by_name = {name: (offset, size) for name, offset, size in found}
    offset, size = by_name["gEcbKey1"]
    assert size == 8 and data[offset:offset + 8] == b"abcdefgh"
    assert "table_key" not in by_name  # .bss: no bytes in the file
    assert data_symbols(b"\x7fELF garbage", lambda n, s: True) == []
