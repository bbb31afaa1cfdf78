"""Stored passwords in an image whose declaration says there are none, or that users set them (5.1-1)."""

from __future__ import annotations

from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.credentials.accounts import ACCOUNTS, accounts
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Evidence, Severity


class PasswordApproachContradicted(Check):
    ID = "declared.password-approach"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    REQUIRES_DECLARATION = True
    USES = (ACCOUNTS,)
    DOC = CheckDoc(
        title="Password stored in the image contradicts the declared password approach",
        why=(
            "The declaration says the device uses no passwords, or that users define them; a usable password hash "
            "in the firmware image is the same on every unit that runs it, so it is a pre-installed password the "
            "declaration does not account for (EN 303 645 5.1-1, PSTI Sch. 1 para 1)."
        ),
        fix="Ship accounts locked ('!' or '*') and have the user set the password at first use, or correct the declaration.",
        references=("SI 2023/1007 Sch. 1 para 1",),
        limitations=(
            "Judges approaches 'none' and 'user_defined' (and a declared 'condition 1: false'); for "
            "'unique_per_device' one image cannot show whether the factory replaces a stored hash."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        decl = ctx.declaration
        if decl is None:
            return
        answers = decl.condition_answers()
        no_passwords = answers.get(1, (True, ""))[0] is False
        approach = decl.password.approach if decl.password is not None else None
        if not no_passwords and approach != "user_defined":
            return
        field = "password.approach" if approach is not None else "conditions.1"
        claim = "no passwords are used" if no_passwords else "passwords are defined by the user"
        side = Evidence(path=decl.source, line=decl.line(field), excerpt=f"{field}: {approach or 'false'}",
                        detail=f"declared: {claim}")
        for acc in accounts(fw):
            if not (acc.has_password_hash or acc.scheme == "plaintext"):
                continue
            yield self.finding(
                acc.path, line=acc.line, offset=acc.offset, excerpt=f"{acc.user}:{acc.scheme}",
                title=f"Account '{acc.user}' has a stored password, but the declaration says {claim}",
                detail=f"{acc.kind} account '{acc.user}' ({acc.scheme}) in {acc.path}; declared ({decl.where(field)}): {claim}",
            ).model_copy(update={"related": [side]})
