"""uImage, FIT/device tree, TRX, TP-Link and AVM container parsers, alone and through the pipeline,
against what fact_extractor's tests expect from the same samples."""

from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest
from support import corpus_file

from iotcop.firmware.extract import extract
from iotcop.formats import fdt, fit, tplink, trx, uimage


def fact(name: str) -> bytes:
    return corpus_file("fact_extractor", name).read_bytes()


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


# -- parsers ---------------------------------------------------------------------------------------------

@pytest.mark.corpus
def test_uimage_header_and_both_crcs():
    image = uimage.parse(fact("uboot__uboot.image_with_header"))
    assert image.summary() | {"timestamp": 0} == {
        "name": "u-boot image", "os": "linux", "arch": "mips", "type": "firmware", "compression": "lzma",
        "load": "0x80010000", "entry": "0x80010000", "size": 32753, "timestamp": 0, "header_crc_ok": True,
        "data_crc_ok": True, "truncated": False, "parts": [32753]}
    damaged = bytearray(fact("uboot__uboot.image_with_header"))
    damaged[100] ^= 0xFF
    assert uimage.parse(bytes(damaged)).data_crc_ok is False
    damaged[40] ^= 0xFF  # inside the header name
    with pytest.raises(uimage.UImageError, match="header CRC mismatch"):
        uimage.parse(bytes(damaged))


@pytest.mark.corpus
def test_uimage_with_bad_header_crc_is_reported_not_trusted():
    data = fact("uboot__uboot.dtb")
    with pytest.raises(uimage.UImageError, match="header CRC mismatch"):
        uimage.parse(data)
    lenient = uimage.parse(data, strict=False)
    assert lenient.header_crc_ok is False and lenient.data_crc_ok is None and lenient.summary()["truncated"]


def test_multi_file_uimage_built_with_mkimage(tmp_path):
    (tmp_path / "a").write_bytes(b"A" * 1001)
    (tmp_path / "b").write_bytes(b"B" * 30)
    out = tmp_path / "multi.img"
    subprocess.run(["mkimage", "-A", "arm", "-O", "linux", "-T", "multi", "-C", "none", "-n", "two parts",
                    "-d", f"{tmp_path / 'a'}:{tmp_path / 'b'}", str(out)], check=True, capture_output=True)
    data = out.read_bytes()
    image = uimage.parse(data)
    assert image.type == "multi" and image.header_crc_ok and image.data_crc_ok
    assert [data[o:o + n] for o, n in image.parts] == [b"A" * 1001, b"B" * 30]


@pytest.mark.corpus
def test_fit_summary_lists_images_and_lack_of_hashes_and_signatures():
    summary = fit.fit_summary(fact("uboot__fit.itb"))
    assert [(i["name"], i["type"], i["compression"]) for i in summary["images"]] == [
        ("kernel", "kernel", "gzip"), ("fdt", "flat_dt", "none"), ("rootfs", "ramdisk", "gzip")]
    assert summary["all_images_hashed"] is False
    assert summary["any_configuration_signed"] is False and summary["any_image_signed"] is False


def test_fit_summary_of_a_signed_image(tmp_path):
    """mkimage builds a FIT with sha256 hashes and an RSA-signed configuration."""
    (tmp_path / "kernel").write_bytes(b"K" * 4000)
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
                    str(keys / "dev.key")], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-batch", "-new", "-x509", "-key", str(keys / "dev.key"), "-out",
                    str(keys / "dev.crt"), "-subj", "/CN=dev"], check=True, capture_output=True)
    its = tmp_path / "image.its"
    its.write_text("""/dts-v1/;
/ { description = "signed"; #address-cells = <1>;
  images { kernel { description = "k"; data = /incbin/("kernel"); type = "kernel"; arch = "arm";
      os = "linux"; compression = "none"; load = <0x8000>; entry = <0x8000>;
      hash-1 { algo = "sha256"; }; }; };
  configurations { default = "conf-1";
    conf-1 { kernel = "kernel"; signature-1 { algo = "sha256,rsa2048"; key-name-hint = "dev";
        sign-images = "kernel"; }; }; }; };
""")
    out = tmp_path / "image.itb"
    proc = subprocess.run(["mkimage", "-f", str(its), "-k", str(keys), str(out)], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    summary = fit.fit_summary(data)
    assert summary["images"][0]["hashes"][0]["algo"] == "sha256"
    assert summary["images"][0]["hashes"][0]["matches"] is True
    assert summary["all_images_hashed"] and summary["hash_mismatches"] == []
    conf = summary["configurations"][0]
    assert conf["signed"] and conf["signatures"][0]["algo"] == "sha256,rsa2048"
    assert conf["signatures"][0]["key_name_hint"] == "dev" and conf["signatures"][0]["has_value"]
    assert summary["default_configuration_signed"] is True
    # Change one payload byte: the stored hash no longer matches.
    at = data.index(b"K" * 100)
    tampered = data[:at] + b"X" + data[at + 1:]
    assert fit.fit_summary(tampered)["hash_mismatches"] == ["kernel"]


@pytest.mark.corpus
def test_fdt_parser_rejects_damage():
    data = fact("uboot__fit.itb")
    with pytest.raises(fdt.FDTError, match="bad magic"):
        fdt.parse(b"\0" * 64)
    with pytest.raises(fdt.FDTError, match="truncated"):
        fdt.parse(data[:1000])
    bad = bytearray(data)
    (off_struct,) = struct.unpack_from(">I", data, 8)
    struct.pack_into(">I", bad, off_struct, 0x77)  # first token
    with pytest.raises(fdt.FDTError, match="unknown token"):
        fdt.parse(bytes(bad))


@pytest.mark.corpus
def test_trx_header_and_crc():
    data = fact("trx__trx.img")
    header = trx.parse(data)
    assert header.crc_ok and header.version == 1 and header.partitions == [(28, 4068)]
    with zipfile.ZipFile(io.BytesIO(data[28:])) as z:
        names = {Path(n).name for n in z.namelist()}
    assert {"test file 3_.txt", "testfile1", "testfile2"} <= names
    damaged = data[:50] + bytes([data[50] ^ 1]) + data[51:]
    assert trx.parse(damaged).crc_ok is False
    # The CRC is the uninverted CRC-32 over everything after the CRC field.
    assert header.crc == zlib.crc32(data[12:4096]) ^ 0xFFFFFFFF


@pytest.mark.corpus
def test_tplink_header_parts():
    image = tplink.parse(fact("tpl__test.tpl"))
    assert image.vendor == "TP-LINK Technologies" and image.version == "ver. 1.0"
    assert image.parts == {"header": (0, 512), "bootloader": (512, 48396), "kernel": (132096, 892442),
                           "rootfs": (1180160, 4096)}


# fact_extractor's TP-WR702N test: these six files with these SHA-256 sums, plus two leftover blocks.
WR702N_FILES = {
    "container_header.hdr": "446d194c0e5beeccf9cd1534205cbeedcedf28491beaeb72d85e485f61071e0a",
    "img0.hdr": "311c4a4f4c3c7b097c9419c58fe245bf2e2f7cedbaf3017870f34242a49b16b5",
    "bootloader.7z": "b4fa4a19502b82ea5984c8ee24396873e710c157adeafebd4bd3e51f40d5cf9f",
    "main.img": "9af7e4f50e0220f8b38246b3f7d790b5078f6f049c2d35272ce5edb9a06464e9",
    "main.7z": "099491872fcab8a4f05f18f1e3566150f3049bf1f3d9d6354437e5e371251e66",
    "main.owfs": "c14d965a60f1b388120695951fed05425e025af6f204332ea2eeca5b9427065d",
}
WR702N_LEFTOVERS = {"32_unknown.bin", "262291_unknown.bin"}


@pytest.mark.corpus
def test_tplink_img0_container_parts():
    data = fact("tpl__wr.fw")
    image = tplink.parse_img0(data)
    parts = {name: data[start:end] for name, start, end in image.files}
    assert set(parts) == set(WR702N_FILES) | WR702N_LEFTOVERS
    assert {name: hashlib.sha256(parts[name]).hexdigest() for name in WR702N_FILES} == WR702N_FILES
    summary = image.summary()
    assert summary["md5"] == "a1ea03bf7466517aa545779640e01acd"
    assert summary["img0"] == {"offset": 20, "size": 1539104, "device_id": "0x0702", "language": "English"}
    assert summary["sub_header"] == {"offset": 262292, "size": 1276832, "device_id": "0x0702",
                                     "language": "English"}
    assert parts["main.img"] == parts["main.7z"] + parts["main.owfs"]


@pytest.mark.corpus
def test_tplink_img0_rejects_damage():
    data = fact("tpl__wr.fw")
    with pytest.raises(tplink.TPLinkError, match="claims 1539104 bytes, 1539103 present"):
        tplink.parse_img0(data[:-1])
    second = data.index(b"IMG0", 32)
    with pytest.raises(tplink.TPLinkError, match="no second IMG0"):
        tplink.parse_img0(data[:second] + b"XXXX" + data[second + 4:])
    with pytest.raises(tplink.TPLinkError, match="system image at 262420 does not start with an LZMA header"):
        tplink.parse_img0(data[:262421] + b"\x03" + data[262422:])  # dictionary no power of two


# -- through the pipeline --------------------------------------------------------------------------------

def _run(name: str, tmp_path: Path):
    result = extract(corpus_file("fact_extractor", name), tmp_path)
    return result, tmp_path / "extract" / f"{name}_extract"


@pytest.mark.corpus
@pytest.mark.slow
def test_pipeline_uimage_like_fact_uboot_plugin(tmp_path):
    """fact_extractor: 3 files, one of them uboot.lzma (header, payload, the data after the image)."""
    result, top = _run("uboot__uboot.image_with_header", tmp_path)
    assert result.report.readers[0]["reader"] == "uimage_firmware (iotcop uimage reader)"
    files = files_under(top)
    assert {"0-32817.uimage_extract/uboot.lzma", "0-32817.uimage_extract/uboot_header.bin",
            "32817-116656.unknown"} <= files


@pytest.mark.corpus
@pytest.mark.slow
def test_pipeline_dtb_dumped_like_extract_dtb(tmp_path):
    """fact_extractor: the device tree is dumped and named after its model."""
    result, top = _run("uboot__uboot.dtb", tmp_path)
    assert [r["reader"] for r in result.report.readers] == ["dtb (iotcop FDT reader)"]
    assert "2432-35321.fdt_extract/Manufac_XYZ1234ABC.dtb" in files_under(top)


@pytest.mark.corpus
@pytest.mark.slow
def test_pipeline_fit_images(tmp_path):
    """fact_extractor: exactly the images kernel, fdt and rootfs."""
    result, top = _run("uboot__fit.itb", tmp_path)
    assert result.report.readers[0]["reader"] == "fit (iotcop FIT reader)"
    assert {p.name for p in top.iterdir() if p.is_file()} == {"kernel", "fdt", "rootfs"}
    assert "rootfs_extract/fact.sqfs_extract/root/random-data" in files_under(top)


@pytest.mark.corpus
@pytest.mark.slow
def test_pipeline_tplink(tmp_path):
    """fact_extractor (tpl-tool): header, bootloader, kernel and root filesystem."""
    result, top = _run("tpl__test.tpl", tmp_path)
    assert result.report.readers[0]["reader"] == "tplink_v1 (iotcop TP-Link reader)"
    assert {p.name for p in top.iterdir() if p.is_file()} == {"header.bin", "bootloader.bin", "kernel.bin",
                                                              "rootfs.bin"}
    files = files_under(top)
    assert {"rootfs.bin_extract/testfile1", "rootfs.bin_extract/testfile2",
            "rootfs.bin_extract/generic folder/test file 3_.txt"} <= files


@pytest.mark.corpus
@pytest.mark.slow
def test_pipeline_tplink_img0(tmp_path):
    """fact_extractor (TP-WR702N): the container split into exactly its eight files, contents identical."""
    result, top = _run("tpl__wr.fw", tmp_path)
    assert result.report.readers[0]["reader"] == "tplink_img0 (iotcop TP-Link reader)"
    written = {p.name: p for p in top.iterdir() if p.is_file()}
    assert set(written) == set(WR702N_FILES) | WR702N_LEFTOVERS
    assert {n: hashlib.sha256(written[n].read_bytes()).hexdigest() for n in WR702N_FILES} == WR702N_FILES
    # The LZMA parts are opened further: the VxWorks system decompresses.
    assert any(p.is_file() for p in (top / "main.7z_extract").rglob("*"))


@pytest.mark.corpus
@pytest.mark.slow
def test_pipeline_trx(tmp_path):
    """fact_extractor (untrx): one partition, a zip holding the three test files."""
    result, top = _run("trx__trx.img", tmp_path)
    assert result.report.readers[0]["reader"] == "trx_v1"
    names = {Path(f).name for f in files_under(top)}
    assert {"test file 3_.txt", "testfile1", "testfile2", "part0"} <= names


@pytest.mark.corpus
def test_pipeline_avm_fake_squashfs(tmp_path):
    """fact_extractor: image.ext2 is the data after the 256 byte fake header, padded to 256 bytes."""
    result, top = _run("avm_sqfs_fake__fake.sqfs", tmp_path)
    assert [r["reader"] for r in result.report.readers] == ["avm_sqfs_fake (iotcop AVM reader)"]
    assert (top / "image.ext2").read_bytes() == b"Test File" + 247 * b"\x00"
