"""Packet captures of the device's traffic as evidence (README "Network evidence").

    dissect.py    tshark (Debian's package) reads the pcap/pcapng and prints only the fields iotcop needs as
                  one EK JSON line per packet, streamed; session reset every 20 000 packets bounds its memory
    analyse.py    one pass: peers, services, TLS (versions, suites, certificates, SNI), clear-text secrets and
                  personal data (sensitive.py), update checks, connection attempts and outages
    checks.py     seven traffic checks -> CheckRuns (source "traffic") for the same verdict model as the probe
    correlate.py  the same secret or endpoint in the firmware's files; services seen against the probe's
    evidence.py   what `iotcop traffic` and `scan --traffic` call

Why tshark: measured on one capture of real traffic made by benchmarks/traffic.py (a device and its cloud
in two network namespaces: update checks over HTTP and HTTPS, JSON telemetry, 8 MB image downloads),
this machine (2 cores, shared), 2026-12-03:

    capture 1103 MB, 204 028 packets         seconds  MB/s  peak RSS
    iotcop traffic (tshark -M + analysis)      107.6  10.2   367 MB
    tshark -T ek -e FIELDS -M 20000 alone       71.5  15.4   367 MB
    the same without -M                          83.9  13.1   913 MB   (grows with the capture)
    tshark -q (no protocol tree)                  2.7   405   157 MB   (decodes nothing iotcop can use)
    scapy 2.8 PcapReader, packets only          249.2   4.4   117 MB
    dpkt 1.9.8 + TLS/HTTP parse                  19.3  57.1    16 MB

    capture 345 MB, 64 642 packets: iotcop 19.6 s (17.6 MB/s, 286 MB), tshark -e 17.2 s (287 MB).

dpkt is 3-4x faster but decodes only Ethernet/IP/TCP/UDP, DNS, HTTP on one segment and TLS records: no TCP
reassembly (a certificate spans segments), no MQTT, CoAP, telnet, FTP, NTP or DHCP dissector, and no
port-independent heuristics.  scapy decodes more (TLS with its layer loaded, DNS, DHCP, NTP, HTTP) but is
3.5x slower than tshark and binds HTTP and TLS to well-known ports.  tshark decodes every protocol the
checks read, reassembles TCP, and is maintained; its cost is most of iotcop's time, the analysis in Python
the rest (1.1-1.5x tshark alone).  Peak memory stays about 370 MB whatever the capture's size (tshark's
dissector tables and one session's reassembly; the Python side keeps bounded tables, see analyse.LIMITS).
"""
