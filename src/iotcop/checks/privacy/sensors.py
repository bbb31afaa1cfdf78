"""Sensing capabilities the firmware is built for: camera, microphone/audio input, GPS.

`sensors(fw)` returns one SensorRecord per kind with the evidence for it, for
comparison with what the manufacturer declares (EN 303 645 5.8-3).  It is an
inventory, not a finding: having a camera driver is not a weakness, leaving
it out of the documentation is.

Evidence, strongest first: kernel modules and their autoload lists, device
nodes, and user-space programs and configs (gpsd, v4l2 tools, arecord).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import Firmware
from iotcop.model import Evidence

_MODULES = {
    "camera": re.compile(r"^(?:uvcvideo|videodev|v4l2[-_]\w+|videobuf2[-_]\w+|gspca[-_]\w+|ov\d{4}\w*|imx\d{3}\w*|mt9\w+|soc[-_]camera|bcm2835[-_](?:v4l2|unicam)|sunxi[-_]csi|rk(?:isp|cif)\w*|mipi[-_]csi\w*)\.ko(?:\.[gx]z|\.zst)?$", re.I),
    "microphone": re.compile(r"^(?:snd[-_]usb[-_]audio|snd[-_]soc[-_]\w*(?:dmic|mic|pdm|i2s|codec|wm\d+|es\d+|ac\d+)\w*|snd[-_]pcm|snd[-_]hda[-_]\w+|snd[-_]soc[-_]core)\.ko(?:\.[gx]z|\.zst)?$", re.I),
    "gps": re.compile(r"^(?:gnss(?:[-_]\w+)?|u[-_]?blox\w*|garmin_gps)\.ko(?:\.[gx]z|\.zst)?$", re.I),
}
_NODES = {
    "camera": re.compile(r"^/dev/(?:video\d+|v4l-subdev\d+|media\d+)$"),
    "microphone": re.compile(r"^/dev/snd/(?:pcmC\d+D\d+c|controlC\d+)$|^/dev/dsp\d*$"),
    "gps": re.compile(r"^/dev/(?:gps\d*|gnss\d+)$"),
}
_PROGRAMS = {
    "camera": frozenset({"v4l2-ctl", "fswebcam", "mjpg_streamer", "motion", "ustreamer", "libcamera-vid", "raspivid", "rpicam-vid", "uvcdynctrl", "libv4l2.so.0"}),
    "microphone": frozenset({"arecord", "parecord", "pw-record", "ffmpeg-mic"}),
    "gps": frozenset({"gpsd", "gpspipe", "gpsctl", "ubxtool"}),
}
_CONFIGS = {
    "gps": re.compile(r"^/etc/(?:default/gpsd|gpsd\.conf|gps\.conf|config/gpsd)$"),
}
_AUTOLOAD = re.compile(r"^/etc/(?:modules(?:-load\.d/.*|\.d/.*)?|modprobe\.d/.*)$")


@dataclass(frozen=True)
class SensorRecord:
    kind: str  # camera, microphone, gps
    strength: str  # "driver": a kernel driver or device node; "software": only user-space support
    evidence: tuple[Evidence, ...]


def _module_name(name: str) -> str:
    return re.sub(r"\.ko(?:\.[gx]z|\.zst)?$", "", name).replace("-", "_")


def _collect(fw: Firmware) -> tuple[SensorRecord, ...]:
    found: dict[str, list[Evidence]] = {k: [] for k in _MODULES}
    drivers: dict[str, bool] = {k: False for k in _MODULES}
    module_kind: dict[str, str] = {}
    for entry in fw.entries:
        path = entry.path
        if entry.kind == "file" and ".ko" in entry.name:
            for kind, rx in _MODULES.items():
                if rx.match(entry.name):
                    found[kind].append(Evidence(path=path, detail="kernel module"))
                    drivers[kind] = True
                    module_kind[_module_name(entry.name)] = kind
                    break
        for kind, rx in _NODES.items():
            if rx.match(path):
                found[kind].append(Evidence(path=path, detail=f"{entry.kind} device node"))
                drivers[kind] = True
        if entry.kind in ("file", "symlink"):
            for kind, names in _PROGRAMS.items():
                if entry.name in names:
                    found[kind].append(Evidence(path=path, detail="user-space program for it"))
        for kind, rx in _CONFIGS.items():
            if entry.kind == "file" and rx.match(path):
                found[kind].append(Evidence(path=path, detail="configuration"))
    # Modules loaded at boot (OpenWrt /etc/modules.d, /etc/modules, modules-load.d).
    for entry in fw.files():
        if not _AUTOLOAD.match(entry.path) or entry.size > 64 * 1024:
            continue
        for number, line in enumerate((fw.read_text(entry) or "").splitlines(), start=1):
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            name = (words[1] if words[0] in ("install", "options", "alias") and len(words) > 1 else words[0]).replace("-", "_")
            kind = module_kind.get(name)
            if kind is None:
                for k, rx in _MODULES.items():
                    if rx.match(name + ".ko"):
                        kind = k
                        break
            if kind:
                found[kind].append(Evidence(path=entry.path, line=number, excerpt=line.strip(), detail="module loaded at boot"))
                drivers[kind] = True
    return tuple(
        SensorRecord(kind, "driver" if drivers[kind] else "software", tuple(ev[:20]))
        for kind, ev in found.items()
        if ev
    )


SENSORS = DerivedFact("privacy.sensors", _collect)


def sensors(fw: Firmware) -> tuple[SensorRecord, ...]:
    """Sensing capabilities with their evidence, memoised per image."""
    return SENSORS.of(fw)
