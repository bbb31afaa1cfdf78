"""Personal data shipped in the image: databases and tables of people (names, e-mail, phone, birth dates).

SQLite databases are opened read-only (`immutable`, so nothing is written beside them) with a bound on rows and
on the work sqlite does; CSV tables are read from their header line.  A table counts when its columns name two
or more kinds of personal data and at least one row fills them.
"""

from __future__ import annotations

import csv
import io
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.credentials.settings import sqlite_tables, words
from iotcop.checks.secrets.files import TEXT, is_reference_material, text_files
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

MAX_DB_BYTES = 64 * 1024 * 1024
MAX_ROWS = 1000  # as sqlite_tables reads
_KINDS = (
    ("name", {"name", "firstname", "lastname", "surname", "fullname", "forename", "givenname", "familyname"}),
    ("e-mail", {"email", "mail", "emailaddress"}),
    ("phone", {"phone", "mobile", "tel", "telephone", "cellphone", "msisdn"}),
    ("birth date", {"birth", "birthday", "dob", "birthdate"}),
    ("postal address", {"address", "street", "postcode", "zip", "zipcode", "city"}),
    ("identity number", {"ssn", "passport", "nationalid", "idcard", "taxid"}),
    ("gender", {"gender", "sex"}),
)
# Column words that say the column is about the device or the network, not a person.
_NOT_PERSONAL = {"host", "hostname", "mac", "ip", "server", "device", "model", "file", "path", "domain", "interface",
                 "ssid", "service", "process", "table", "column", "key", "url", "smtp"}


def personal_kinds(column: str) -> str | None:
    ws = words(column)
    if not ws or set(ws) & _NOT_PERSONAL:
        return None
    joined = "".join(ws)
    for kind, markers in _KINDS:
        if joined in markers or ws[-1] in markers or (len(ws) >= 2 and "".join(ws[-2:]) in markers):
            return kind
    return None


def _filled(rows: list, indexes: list[int]) -> int:
    return sum(1 for row in rows if any(row[i] not in (None, "", b"") for i in indexes if i < len(row)))


class PersonalDataAtRest(Check):
    ID = "privacy.personal-data-at-rest"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (TEXT,)
    DOC = CheckDoc(
        title="Personal data shipped in the image",
        why=(
            "A database or table of people (names, e-mail addresses, phone numbers, birth dates) in the image is "
            "copied to every unit and to everyone who downloads the firmware: personal data disclosed without "
            "the people's knowledge, usually test or customer data left behind by the build."
        ),
        fix="Remove personal data from the image; ship empty databases and let the device collect data only with consent.",
        references=("CWE-359: Exposure of Private Personal Information to an Unauthorized Actor",),
        limitations=(
            "SQLite databases (read-only, first 1000 rows of each table) and CSV files with a header line.  A table "
            "counts when two or more of its columns name kinds of personal data (name, e-mail, phone, birth date, "
            "postal address, identity number, gender) and a row fills them.  Whether the people are real is not "
            "known, hence confidence likely; other formats (JSON, vendor binary tables) are not read."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for entry in fw.files():
            if entry.magic == "sqlite" and 0 < entry.size <= MAX_DB_BYTES and not is_reference_material(entry.path):
                for table, columns, rows in sqlite_tables(str(entry.host_path)):
                    yield from self._judge(entry, table, columns, rows)
        for entry, text in text_files(fw):
            if entry.name.lower().endswith((".csv", ".tsv")) and "\n" in text:
                try:
                    rows = list(csv.reader(io.StringIO(text[:256 * 1024]), csv.Sniffer().sniff(text[:4096], ",;\t|")))
                except csv.Error:
                    continue
                if len(rows) >= 2:
                    yield from self._judge(entry, entry.name, rows[0], [tuple(r) for r in rows[1:MAX_ROWS + 1]])

    def _judge(self, entry: FileEntry, table: str, columns: list[str], rows: list[tuple]) -> Iterator[CheckOutput]:
        kinds: dict[str, list[int]] = {}
        for i, column in enumerate(columns):
            kind = personal_kinds(str(column))
            if kind:
                kinds.setdefault(kind, []).append(i)
        if len(kinds) < 2:
            return
        indexes = [i for idx in kinds.values() for i in idx]
        filled = _filled(rows, indexes)
        if not filled:
            return
        shown = ", ".join(str(columns[i]) for i in indexes)
        yield self.finding(
            entry,
            title=f"Personal data shipped in the image ({', '.join(sorted(kinds))})",
            excerpt=f"{table}({shown})"[:200],
            detail=(f"table '{table}' of {entry.path} has columns for {', '.join(sorted(kinds))} ({shown}) and "
                    f"{filled}{'+' if len(rows) >= MAX_ROWS else ''} row(s) filling them; every unit and every "
                    "copy of the firmware carries these records"),
            confidence="likely",
        )

