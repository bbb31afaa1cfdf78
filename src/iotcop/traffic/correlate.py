"""Join a capture with the firmware and the live probe.

  * every credential or token seen in clear is looked for in the firmware's files: the MQTT password in
    clear is the one in /etc/mqtt.conf line 3 (the finding then names that file);
  * every name the device contacted (DNS, TLS SNI, HTTP Host) is looked for in the firmware: the
    endpoint is in /usr/bin/cloudd, or it is in no file (configured at run time, or not the device's);
  * every service the capture shows on the device is compared with what the probe found open.

The firmware is read file by file, at most FILE_LIMIT bytes of each and TOTAL_LIMIT in all, with
plain byte search (a handful of needles); the rows say when a limit cut the search short.
"""

from __future__ import annotations

from iotcop.model import DeviceReport, Evidence, TrafficReport

FILE_LIMIT = 16 * 1024 * 1024
TOTAL_LIMIT = 512 * 1024 * 1024
_SKIP = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/locale/", "/usr/share/zoneinfo/")


def _line_of(data: bytes, offset: int) -> int | None:
    if b"\x00" in data[:4096]:
        return None  # a binary: the offset says where, a line number would not
    return data.count(b"\n", 0, offset) + 1


def search_firmware(fw, needles: list[str]) -> tuple[dict[str, list[Evidence]], bool]:
    """needle -> where it occurs in the firmware (at most 5 places); and whether every file was read."""
    wanted = {n: n.encode() for n in needles if len(n) >= 4}
    found: dict[str, list[Evidence]] = {n: [] for n in wanted}
    read = 0
    complete = True
    for entry in fw.files():
        if entry.path.startswith(_SKIP):
            continue
        if read >= TOTAL_LIMIT:
            complete = False
            break
        data = fw.read_bytes(entry, FILE_LIMIT)
        if not data:
            continue
        if entry.size > FILE_LIMIT:
            complete = False
        read += len(data)
        for needle, raw in wanted.items():
            if len(found[needle]) >= 5:
                continue
            at = data.find(raw)
            if at >= 0:
                line = _line_of(data, at)
                start = data.rfind(b"\n", 0, at) + 1 if line else max(0, at - 20)
                end = data.find(b"\n", at) if line else at + len(raw) + 20
                excerpt = data[start:end if end > 0 else at + 80][:160].decode("utf-8", "replace")
                found[needle].append(Evidence(path=entry.path, line=line, offset=None if line else at,
                                              excerpt=excerpt.replace(needle, _mask(needle))))
    return found, complete


def _mask(value: str) -> str:
    from iotcop.traffic.sensitive import mask

    return mask(value)


def with_firmware(report: TrafficReport, secrets: dict, fw) -> None:
    """Fill cleartext[].firmware and add endpoint rows to report.correlation."""
    names = sorted({n for p in report.peers for n in p.names if "." in n and not n.replace(".", "").isdigit()})
    values = {key: value for key, value in secrets.items()}
    found, complete = search_firmware(fw, names + list(values.values()))
    for item in report.cleartext:
        value = values.get((item.kind, item.endpoint, item.field, item.masked))
        if value is not None and item.kind != "personal":
            item.firmware = found.get(value, [])
    for name in names:
        where = found.get(name, [])
        report.correlation.append({
            "kind": "endpoint", "name": name,
            "status": "in the firmware" if where else ("not in the firmware" if complete else
                                                      "not in the files read (search limit reached)"),
            "firmware": [e.model_dump(exclude_none=True) for e in where]})
    for item in report.cleartext:
        if item.kind != "personal":
            report.correlation.append({
                "kind": item.kind, "field": item.field, "endpoint": item.endpoint, "masked": item.masked,
                "status": "same value in the firmware" if item.firmware else "not in the firmware",
                "firmware": [e.model_dump(exclude_none=True) for e in item.firmware]})


def with_probe(report: TrafficReport, device: DeviceReport) -> None:
    """Services the capture shows on the device against the services the probe found open."""
    if report.device is None or report.device != device.address:
        report.correlation.append({"kind": "probe", "status": f"the probe's address {device.address} is not the "
                                   f"capture's device {report.device}"})
        return
    probed = {s.endpoint: s.service for s in device.services}
    seen: dict[str, str] = {}
    for peer in report.peers:
        for s in peer.services:
            if s["direction"] == "to device":
                seen.setdefault(s["endpoint"], s["protocol"])
    for endpoint in sorted(set(probed) | set(seen)):
        status = ("seen in the capture and open to the probe" if endpoint in probed and endpoint in seen else
                  "open to the probe, not used in the capture" if endpoint in probed else
                  "used in the capture, not found open by the probe")
        report.correlation.append({"kind": "service", "endpoint": endpoint, "capture": seen.get(endpoint),
                                   "probe": probed.get(endpoint), "status": status})
