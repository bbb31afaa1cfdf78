"""A small ELF reader for the facts checks need (architecture, imports, hardening).

It works on bytes the inventory has already read for hashing, so each file is
read once.  It parses only the ELF header, program headers, the dynamic
section and the dynamic symbol table; everything is bounds-checked and a
malformed file raises `ElfError`.
"""

from __future__ import annotations

import re
import struct
from typing import Callable

from iotcop.firmware.model import ElfInfo

MACHINES = {
    2: "SPARC", 3: "x86", 8: "MIPS", 10: "MIPS", 20: "PPC", 21: "PPC64", 40: "ARM", 42: "SH",
    43: "SPARCV9", 50: "IA64", 62: "x86_64", 83: "AVR", 94: "XTENSA", 183: "AARCH64", 243: "RISCV",
    258: "LOONGARCH", 164: "HEXAGON", 92: "OPENRISC", 106: "BLACKFIN", 189: "MICROBLAZE", 195: "ARC",
}
ELF_TYPES = {0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
PT_GNU_STACK, PT_GNU_RELRO = 0x6474E551, 0x6474E552
PF_X = 1
DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ = 0, 1, 4, 5, 6, 10
DT_RPATH, DT_BIND_NOW, DT_RUNPATH, DT_FLAGS = 15, 24, 29, 30
DT_GNU_HASH, DT_FLAGS_1, DT_MIPS_SYMTABNO = 0x6FFFFEF5, 0x6FFFFFFB, 0x70000011
DF_BIND_NOW, DF_1_NOW, DF_1_PIE = 0x8, 0x1, 0x08000000
SHT_PROGBITS, SHT_SYMTAB, SHT_NOBITS, SHT_DYNSYM = 1, 2, 8, 11
SHF_ALLOC, SHF_EXECINSTR = 0x2, 0x4
STT_OBJECT = 1
SHN_UNDEF = 0
STB_LOCAL, STB_WEAK = 0, 2

_CANARY_SYMBOLS = {"__stack_chk_fail", "__stack_chk_guard", "__stack_chk_fail_local", "__intel_security_cookie"}
_FORTIFIED = re.compile(r"^__\w+_chk$")
_MAX_SYMBOLS = 200_000


class ElfError(ValueError):
    pass


def is_elf(head: bytes) -> bool:
    return head[:4] == b"\x7fELF"


def data_symbols(data: bytes | memoryview, wanted: Callable[[str, int], bool]) -> list[tuple[str, int, int]]:
    """(name, file offset, size) of the defined data objects in .symtab and .dynsym that `wanted(name, size)`
    accepts; objects in .bss (no bytes in the file) are left out.  [] for a malformed file.

    Kept here rather than asking LIEF: importing LIEF costs about 0.37 s in every inventory process that
    needs it, while this reader already parses the symbol tables (measured on the demo image: the content
    pass took 2.2 s with LIEF and the same as without the key scanner with this)."""
    try:
        return _Parser(memoryview(data)).data_symbols(wanted)
    except (struct.error, IndexError, UnicodeDecodeError, OverflowError, ElfError):
        return []


def data_ranges(data: bytes | memoryview) -> list[tuple[int, int]] | None:
    """(offset, size) of the loaded, non-executable sections with initialised data (.rodata, .data ...), where a
    program's string literals are; None when the file has no section headers to tell (sstrip'ed) or is
    not an ELF file."""
    try:
        return _Parser(memoryview(data)).data_sections() or None
    except (ElfError, struct.error, IndexError, OverflowError):
        return None


def parse_elf(data: bytes | memoryview) -> ElfInfo:
    try:
        return _Parser(memoryview(data)).info()
    except (struct.error, IndexError, UnicodeDecodeError, OverflowError) as exc:
        raise ElfError(f"malformed ELF: {exc}") from None


class _Parser:
    def __init__(self, data: memoryview) -> None:
        if len(data) < 52 or bytes(data[:4]) != b"\x7fELF":
            raise ElfError("not an ELF file")
        self.data = data
        cls, enc = data[4], data[5]
        if cls not in (1, 2) or enc not in (1, 2):
            raise ElfError("bad ELF class or data encoding")
        self.is64 = cls == 2
        self.end = "<" if enc == 1 else ">"
        if self.is64:
            fields = struct.unpack_from(self.end + "HHIQQQIHHHHHH", data, 16)
        else:
            fields = struct.unpack_from(self.end + "HHIIIIIHHHHHH", data, 16)
        (self.e_type, self.e_machine, _v, _entry, self.phoff, self.shoff, _flags, _ehsize,
         self.phentsize, self.phnum, self.shentsize, self.shnum, self.shstrndx) = fields
        self.phdrs = self._program_headers()
        self.sections = self._section_headers()

    # -- tables ----------------------------------------------------------
    def _program_headers(self) -> list[tuple[int, int, int, int, int]]:
        """(type, flags, offset, vaddr, filesz) per program header."""
        out = []
        if not self.phoff or not self.phnum:
            return out
        for i in range(min(self.phnum, 256)):
            off = self.phoff + i * self.phentsize
            if self.is64:
                p_type, p_flags, p_offset, p_vaddr, _pa, p_filesz, _ms, _al = struct.unpack_from(
                    self.end + "IIQQQQQQ", self.data, off)
            else:
                p_type, p_offset, p_vaddr, _pa, p_filesz, _ms, p_flags, _al = struct.unpack_from(
                    self.end + "IIIIIIII", self.data, off)
            out.append((p_type, p_flags, p_offset, p_vaddr, p_filesz))
        return out

    def _section_rows(self) -> list[tuple[int, ...]]:
        """Each section header as unpacked: (name, type, flags, addr, offset, size, link, info, align, entsize)."""
        out = []
        if not self.shoff or not self.shnum or self.shoff >= len(self.data):
            return out
        fmt = self.end + ("IIQQQQIIQQ" if self.is64 else "IIIIIIIIII")
        for i in range(min(self.shnum, 4096)):
            off = self.shoff + i * self.shentsize
            if off + struct.calcsize(fmt) > len(self.data):
                break
            out.append(struct.unpack_from(fmt, self.data, off))
        return out

    def _section_headers(self) -> list[tuple[int, int, int, int, int]]:
        """(type, offset, size, link, entsize) per section header."""
        return [(row[1], row[4], row[5], row[6], row[9]) for row in self._section_rows()]

    def data_sections(self) -> list[tuple[int, int]]:
        """(offset, size) of the loaded, non-executable sections with initialised data."""
        return [(row[4], row[5]) for row in self._section_rows()
                if row[1] == SHT_PROGBITS and row[2] & SHF_ALLOC and not row[2] & SHF_EXECINSTR and row[5]
                and row[4] + row[5] <= len(self.data)]

    def _vaddr_to_offset(self, vaddr: int) -> int | None:
        for p_type, _f, p_offset, p_vaddr, p_filesz in self.phdrs:
            if p_type == PT_LOAD and p_vaddr <= vaddr < p_vaddr + p_filesz:
                return p_offset + (vaddr - p_vaddr)
        return None

    def _cstring(self, offset: int, limit: int | None = None) -> str:
        end = len(self.data) if limit is None else min(len(self.data), limit)
        if offset < 0 or offset >= end:
            return ""
        raw = bytes(self.data[offset:min(end, offset + 4096)])
        return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")

    def _dynamic(self) -> list[tuple[int, int]]:
        for p_type, _f, p_offset, _v, p_filesz in self.phdrs:
            if p_type == PT_DYNAMIC:
                fmt = self.end + ("qQ" if self.is64 else "iI")
                size = struct.calcsize(fmt)
                entries = []
                stop = min(p_offset + p_filesz, len(self.data))
                for off in range(p_offset, stop - size + 1, size):
                    tag, val = struct.unpack_from(fmt, self.data, off)
                    if tag == DT_NULL:
                        break
                    entries.append((tag, val))
                return entries
        return []

    def _dynsym_count(self, dyn: dict[int, list[int]]) -> int:
        if DT_HASH in dyn:
            off = self._vaddr_to_offset(dyn[DT_HASH][0])
            if off is not None:
                return struct.unpack_from(self.end + "II", self.data, off)[1]
        if DT_MIPS_SYMTABNO in dyn:
            return dyn[DT_MIPS_SYMTABNO][0]
        if DT_GNU_HASH in dyn:
            return self._gnu_hash_count(dyn[DT_GNU_HASH][0])
        return 0

    def _gnu_hash_count(self, vaddr: int) -> int:
        off = self._vaddr_to_offset(vaddr)
        if off is None:
            return 0
        nbuckets, symoffset, bloom_size, _shift = struct.unpack_from(self.end + "IIII", self.data, off)
        buckets_off = off + 16 + bloom_size * (8 if self.is64 else 4)
        buckets = struct.unpack_from(self.end + f"{nbuckets}I", self.data, buckets_off) if nbuckets < 1 << 20 else ()
        last = max(buckets, default=0)
        if last < symoffset:
            return symoffset
        chain_off = buckets_off + 4 * nbuckets
        index = last
        while index - symoffset < _MAX_SYMBOLS:
            (value,) = struct.unpack_from(self.end + "I", self.data, chain_off + 4 * (index - symoffset))
            index += 1
            if value & 1:
                break
        return index

    def _symbols(self, sym_off: int, count: int, str_off: int, str_end: int | None):
        """(name, section index) of non-local symbols; untyped weak references are not imports."""
        fmt = self.end + ("IBBHQQ" if self.is64 else "IIIBBH")
        size = struct.calcsize(fmt)
        count = min(count, _MAX_SYMBOLS, max(0, (len(self.data) - sym_off) // size))
        strtab = bytes(self.data[str_off:str_end if str_end is not None else len(self.data)])
        names: dict[int, str] = {}
        for fields in struct.iter_unpack(fmt, self.data[sym_off:sym_off + count * size]):
            if self.is64:
                st_name, st_info, _other, st_shndx, _value, _size = fields
            else:
                st_name, _value, _size, st_info, _other, st_shndx = fields
            bind = st_info >> 4
            if st_name == 0 or bind == STB_LOCAL or (bind == STB_WEAK and st_shndx == SHN_UNDEF and st_info & 0xF == 0):
                continue
            name = names.get(st_name)
            if name is None:
                end = strtab.find(b"\0", st_name)
                name = strtab[st_name:end if end >= 0 else len(strtab)].decode("utf-8", errors="replace")
                names[st_name] = name
            yield name, st_shndx

    # -- result ----------------------------------------------------------
    def info(self) -> ElfInfo:
        interpreter = None
        gnu_stack_flags = None
        relro_segment = False
        for p_type, p_flags, p_offset, _v, p_filesz in self.phdrs:
            if p_type == PT_INTERP:
                interpreter = self._cstring(p_offset, p_offset + p_filesz) or None
            elif p_type == PT_GNU_STACK:
                gnu_stack_flags = p_flags
            elif p_type == PT_GNU_RELRO:
                relro_segment = True

        dyn: dict[int, list[int]] = {}
        for tag, val in self._dynamic():
            dyn.setdefault(tag, []).append(val)
        str_off = self._vaddr_to_offset(dyn[DT_STRTAB][0]) if DT_STRTAB in dyn else None
        str_end = str_off + dyn[DT_STRSZ][0] if str_off is not None and DT_STRSZ in dyn else None

        def dyn_strings(tag: int) -> tuple[str, ...]:
            if str_off is None:
                return ()
            return tuple(self._cstring(str_off + v, str_end) for v in dyn.get(tag, ()))

        needed = dyn_strings(DT_NEEDED)
        rpath = tuple(p for v in dyn_strings(DT_RPATH) for p in v.split(":") if p)
        runpath = tuple(p for v in dyn_strings(DT_RUNPATH) for p in v.split(":") if p)

        imported: set[str] = set()
        exported = 0
        dynsym = next((s for s in self.sections if s[0] == SHT_DYNSYM), None)
        if dynsym is not None and dynsym[4] and dynsym[3] < len(self.sections):
            _t, s_off, s_size, s_link, s_entsize = dynsym
            strtab = self.sections[s_link]
            symbols = self._symbols(s_off, s_size // s_entsize, strtab[1], strtab[1] + strtab[2])
        elif DT_SYMTAB in dyn and str_off is not None:
            sym_off = self._vaddr_to_offset(dyn[DT_SYMTAB][0])
            symbols = self._symbols(sym_off, self._dynsym_count(dyn), str_off, str_end) if sym_off is not None else ()
        else:
            symbols = ()
        for name, shndx in symbols:
            if shndx == SHN_UNDEF:
                imported.add(name)
            else:
                exported += 1

        flags = dyn.get(DT_FLAGS, [0])[0]
        flags_1 = dyn.get(DT_FLAGS_1, [0])[0]
        bind_now = DT_BIND_NOW in dyn or bool(flags & DF_BIND_NOW) or bool(flags_1 & DF_1_NOW)
        relro = "full" if relro_segment and bind_now else "partial" if relro_segment else "none"
        elf_type = ELF_TYPES.get(self.e_type, str(self.e_type))
        pie = elf_type == "DYN" and (interpreter is not None or bool(flags_1 & DF_1_PIE))
        has_symtab = any(s[0] == SHT_SYMTAB for s in self.sections)
        nx = None if not self.phdrs else (gnu_stack_flags is not None and not gnu_stack_flags & PF_X)
        defined_canary = has_symtab and self._symtab_has(_CANARY_SYMBOLS)
        return ElfInfo(
            arch=MACHINES.get(self.e_machine, f"machine-{self.e_machine}"),
            bits=64 if self.is64 else 32,
            endianness="little" if self.end == "<" else "big",
            elf_type=elf_type,
            interpreter=interpreter,
            needed=needed,
            imported=tuple(sorted(imported)),
            exported_count=exported,
            nx=nx,
            pie=pie,
            relro=relro,
            canary=bool(imported & _CANARY_SYMBOLS) or defined_canary,
            fortify=any(_FORTIFIED.match(n) for n in imported),
            rpath=rpath,
            runpath=runpath,
            stripped=not has_symtab,
            static=interpreter is None and not needed,
        )

    def data_symbols(self, wanted: Callable[[str, int], bool]) -> list[tuple[str, int, int]]:
        fmt = self.end + ("IBBHQQ" if self.is64 else "IIIBBH")
        size = struct.calcsize(fmt)
        out: list[tuple[str, int, int]] = []
        seen: set[tuple[str, int]] = set()
        for sh_type, s_off, s_size, s_link, s_entsize in self.sections:
            if sh_type not in (SHT_SYMTAB, SHT_DYNSYM) or s_entsize < size or s_link >= len(self.sections):
                continue
            str_off, str_size = self.sections[s_link][1], self.sections[s_link][2]
            strtab = bytes(self.data[str_off:str_off + str_size])
            count = min(s_size // s_entsize, _MAX_SYMBOLS, max(0, (len(self.data) - s_off) // s_entsize))
            for i in range(count):
                fields = struct.unpack_from(fmt, self.data, s_off + i * s_entsize)
                if self.is64:
                    st_name, st_info, _other, st_shndx, value, sym_size = fields
                else:
                    st_name, value, sym_size, st_info, _other, st_shndx = fields
                if st_info & 0xF != STT_OBJECT or not sym_size or not 0 < st_shndx < len(self.sections):
                    continue
                if self.sections[st_shndx][0] == SHT_NOBITS:
                    continue
                end = strtab.find(b"\0", st_name)
                name = strtab[st_name:end if end >= 0 else len(strtab)].decode("utf-8", errors="replace")
                if not name or not wanted(name, sym_size):
                    continue
                offset = self._vaddr_to_offset(value) if self.phdrs else None
                if offset is None and self.e_type == 1:  # relocatable object: value is relative to its section
                    offset = self.sections[st_shndx][1] + value
                if offset is None or offset + sym_size > len(self.data) or (name, offset) in seen:
                    continue
                seen.add((name, offset))
                out.append((name, offset, sym_size))
        return out

    def _symtab_has(self, names: set[str]) -> bool:
        """Static binaries carry the canary symbols in .symtab, not as imports."""
        for sh_type, s_off, s_size, s_link, s_entsize in self.sections:
            if sh_type == SHT_SYMTAB and s_entsize and s_link < len(self.sections):
                strtab = self.sections[s_link]
                for name, _ in self._symbols(s_off, s_size // s_entsize, strtab[1], strtab[1] + strtab[2]):
                    if name in names:
                        return True
        return False
