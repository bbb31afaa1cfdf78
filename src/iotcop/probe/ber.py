"""The small part of ASN.1 BER that SNMP v1/v2c needs: INTEGER, OCTET STRING, NULL, OID, SEQUENCE, PDUs."""

from __future__ import annotations

from dataclasses import dataclass

INTEGER, OCTET_STRING, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
GET_REQUEST, GET_RESPONSE = 0xA0, 0xA2
# Application types a GET can return (IpAddress, Counter32, Gauge32, TimeTicks, Opaque, Counter64).
APPLICATION_TYPES = {0x40: "IpAddress", 0x41: "Counter32", 0x42: "Gauge32", 0x43: "TimeTicks", 0x44: "Opaque",
                     0x46: "Counter64"}
NO_SUCH = {0x80: "noSuchObject", 0x81: "noSuchInstance", 0x82: "endOfMibView"}


class BerError(ValueError):
    pass


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def integer(n: int) -> bytes:
    size = max(1, (n.bit_length() + 8) // 8)  # room for the sign bit
    return tlv(INTEGER, n.to_bytes(size, "big", signed=True))


def octets(b: bytes) -> bytes:
    return tlv(OCTET_STRING, b)


def null() -> bytes:
    return tlv(NULL, b"")


def oid(dotted: str) -> bytes:
    parts = [int(x) for x in dotted.strip(".").split(".")]
    if len(parts) < 2 or parts[0] > 2 or (parts[0] < 2 and parts[1] >= 40):
        raise BerError(f"bad OID {dotted}")
    out = bytearray()
    for arc in [parts[0] * 40 + parts[1], *parts[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return tlv(OID, bytes(out))


def sequence(*items: bytes, tag: int = SEQUENCE) -> bytes:
    return tlv(tag, b"".join(items))


@dataclass
class Node:
    tag: int
    value: bytes
    children: list[Node] | None = None  # for constructed types

    def as_int(self) -> int:
        if self.tag != INTEGER and self.tag not in APPLICATION_TYPES:
            raise BerError(f"tag 0x{self.tag:02x} is not an integer")
        return int.from_bytes(self.value, "big", signed=self.tag == INTEGER)

    def as_oid(self) -> str:
        if self.tag != OID or not self.value:
            raise BerError("not an OID")
        arcs, n = [], 0
        for byte in self.value:
            n = (n << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(n)
                n = 0
        first = arcs[0]
        head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
        return ".".join(str(a) for a in head + arcs[1:])


def decode(data: bytes, depth: int = 0) -> tuple[Node, bytes]:
    """One TLV from the front of DATA and the rest."""
    if depth > 16:
        raise BerError("nesting too deep")
    if len(data) < 2:
        raise BerError("truncated")
    tag, first = data[0], data[1]
    pos = 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or len(data) < pos + count:
            raise BerError("bad length")
        size = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    else:
        size = first
    if len(data) < pos + size:
        raise BerError("truncated value")
    value, rest = data[pos:pos + size], data[pos + size:]
    node = Node(tag, value)
    if tag & 0x20:  # constructed
        node.children = []
        inner = value
        while inner:
            child, inner = decode(inner, depth + 1)
            node.children.append(child)
    return node, rest


def snmp_get(community: str, request_id: int, *oids: str, version: int = 1) -> bytes:
    """An SNMP GetRequest (version 0 = v1, 1 = v2c)."""
    bindings = sequence(*(sequence(oid(o), null()) for o in oids))
    pdu = sequence(integer(request_id), integer(0), integer(0), bindings, tag=GET_REQUEST)
    return sequence(integer(version), octets(community.encode()), pdu)


@dataclass
class SnmpResponse:
    version: int
    community: str
    request_id: int
    error_status: int
    values: dict[str, object]


def parse_snmp_response(data: bytes) -> SnmpResponse:
    msg, _ = decode(data)
    if msg.tag != SEQUENCE or not msg.children or len(msg.children) < 3:
        raise BerError("not an SNMP message")
    version, community, pdu = msg.children[:3]
    if pdu.tag != GET_RESPONSE or not pdu.children or len(pdu.children) < 4:
        raise BerError("not a GetResponse")
    values: dict[str, object] = {}
    for binding in pdu.children[3].children or []:
        if not binding.children or len(binding.children) < 2:
            continue
        name, val = binding.children[:2]
        if val.tag == OCTET_STRING:
            values[name.as_oid()] = val.value.decode("utf-8", "replace")
        elif val.tag == INTEGER or val.tag in APPLICATION_TYPES:
            values[name.as_oid()] = val.value.hex() if val.tag in (0x40, 0x44) else val.as_int()
        elif val.tag == OID:
            values[name.as_oid()] = val.as_oid()
        elif val.tag in NO_SUCH:
            values[name.as_oid()] = None
        else:
            values[name.as_oid()] = val.value.hex()
    return SnmpResponse(version=version.as_int(), community=community.value.decode("latin-1"),
                        request_id=pdu.children[0].as_int(), error_status=pdu.children[1].as_int(), values=values)
