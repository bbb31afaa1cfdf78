"""Sensing hardware the firmware drives but the declaration does not document (EN 303 645 5.8-3)."""

from __future__ import annotations

import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Evidence, Severity

# (sensor type, how it shows in an image, severity): device nodes, kernel modules, user-space tools.
_KO = r"\.ko(?:\.(?:gz|xz|zst))?$"
_CAMERA = [
    (re.compile(r"^/dev/(?:video\d+|v4l-subdev\d+|media\d+)$"), "video device node"),
    (re.compile(r"/(?:uvcvideo|videodev|v4l2[-_][\w-]+|videobuf2[-_][\w-]+|gspca[-_]?\w*)" + _KO), "V4L2 / UVC camera driver"),
    (re.compile(r"/drivers/media/(?:usb|i2c|platform)/.*" + _KO), "camera (media) driver"),
]
_MICROPHONE = [
    (re.compile(r"^/dev/snd/pcmC\d+D\d+c$"), "ALSA capture device node"),
    (re.compile(r"/(?:arecord|parecord)$"), "audio recording tool"),
    (re.compile(r"/snd[-_][\w-]+" + _KO), "ALSA sound driver"),
    (re.compile(r"/libasound\.so(?:\.\d+)*$"), "ALSA library"),
]
_OTHER = [
    (re.compile(r"/(?:industrialio|iio[-_][\w-]+)" + _KO), "IIO sensor framework"),
    (re.compile(r"/drivers/iio/.*" + _KO), "IIO sensor driver"),
]
_SENSES = (
    ("camera", _CAMERA, Severity.high, {"camera"}),
    ("microphone", _MICROPHONE, Severity.medium, {"microphone"}),
    ("sensor", _OTHER, Severity.medium,
     {"motion", "temperature", "humidity", "light", "location", "accelerometer", "gyroscope", "pressure", "proximity", "other"}),
)


class UndeclaredSensor(Check):
    ID = "declared.undeclared-sensor"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    REQUIRES_DECLARATION = True
    DOC = CheckDoc(
        title="Sensor support in the firmware that the declaration does not document",
        why=(
            "Users must be told about every external sensing capability (EN 303 645 5.8-3); firmware that carries "
            "camera or audio-capture drivers while the declaration lists no such sensor either hides a sensor or "
            "ships drivers the product does not need."
        ),
        fix="Document the sensor (sensors: in the declaration and in the user documentation), or remove the drivers.",
        references=("ETSI TS 103 701 IXIT 22-ExtSens",),
        limitations=(
            "Looks for device nodes, kernel modules and capture tools by name; drivers built into the kernel image "
            "are not seen. ALSA alone may serve a speaker, so an audio finding says capture is possible, not certain."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        decl = ctx.declaration
        if decl is None or decl.sensors is None:
            return
        declared_types = {s.type for s in decl.sensors}
        listed = ", ".join(sorted(declared_types)) or "no sensors"
        side = Evidence(path=decl.source, line=decl.line("sensors"), excerpt=listed, detail="declared sensors")
        for label, patterns, severity, satisfied_by in _SENSES:
            if declared_types & satisfied_by:
                continue
            hits = []
            for entry in fw.entries:
                if entry.kind not in ("file", "char", "symlink"):
                    continue
                for pattern, what in patterns:
                    if pattern.search(entry.path):
                        hits.append((entry, what))
                        break
            if not hits:
                continue
            entry, what = hits[0]
            others = sorted({w for _, w in hits})
            yield self.finding(
                entry, severity=severity,
                title=f"The firmware supports a {label} the declaration does not list",
                detail=f"{what}: {entry.path}" + (f" and {len(hits) - 1} more ({', '.join(others)})" if len(hits) > 1 else "")
                       + f"; declared ({decl.where('sensors')}): {listed}",
            ).model_copy(update={"related": [side]})
