#!/usr/bin/env python3
"""Writes the seed corpora under corpora/TARGET/ (run from anywhere; needs qemu-img, GNU tar and a built engine).

Seeds are small valid inputs made by the real tools where there is one (qemu-img for VMDKs, GNU tar for archives,
`engine backup` and `engine backup-ct` for repository files, the OVF fixtures), NBD exchanges built by hand per the
protocol spec, and a few crafted edge cases. The files are committed; rerun this only to change them.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPORA = os.path.join(HERE, "corpora")
ENGINE = os.path.join(ROOT, "src", "Engine.Cli", "bin", "Release", "net10.0", "linux-x64", "engine.dll")
SNAPSHOT = "vm/100/2026-11-26T06:30:00Z"


def put(target, name, data):
    folder = os.path.join(CORPORA, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def run(*args, cwd=None):
    subprocess.run(args, check=True, cwd=cwd, stdout=subprocess.DEVNULL)


# --- NBD (constants from the NBD protocol spec, /work/shared/reference) ---
IHAVEOPT = 0x49484156454F5054
OPT = {"EXPORT_NAME": 1, "ABORT": 2, "LIST": 3, "STARTTLS": 5, "INFO": 6, "GO": 7, "STRUCTURED_REPLY": 8,
       "LIST_META_CONTEXT": 9, "SET_META_CONTEXT": 10, "EXTENDED_HEADERS": 11}
INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE = 1, 2, 3
FLAGS = struct.pack(">I", 3)  # FIXED_NEWSTYLE | NO_ZEROES


def option(name, data=b""):
    code = OPT[name] if isinstance(name, str) else name
    return struct.pack(">QII", IHAVEOPT, code, len(data)) + data


def string(text):
    raw = text.encode()
    return struct.pack(">I", len(raw)) + raw


def info_go(export, *requests):
    return string(export) + struct.pack(">H", len(requests)) + b"".join(struct.pack(">H", r) for r in requests)


def meta(export, *queries):
    return string(export) + struct.pack(">I", len(queries)) + b"".join(string(q) for q in queries)


def nbd_options():
    put("nbd-options", "go-default", FLAGS + option("GO", info_go("")))
    put("nbd-options", "structured-meta-go", FLAGS + option("STRUCTURED_REPLY") +
        option("SET_META_CONTEXT", meta("", "base:allocation")) + option("GO", info_go("", INFO_BLOCK_SIZE)))
    put("nbd-options", "list-abort", FLAGS + option("LIST") + option("ABORT"))
    put("nbd-options", "extended-info-go", FLAGS + option("EXTENDED_HEADERS") +
        option("LIST_META_CONTEXT", meta("second")) + option("INFO", info_go("second", INFO_NAME, INFO_DESCRIPTION)) +
        option("GO", info_go("second", INFO_NAME)))
    put("nbd-options", "export-name", FLAGS + option("EXPORT_NAME", b"second"))
    put("nbd-options", "oldstyle-zeroes", struct.pack(">I", 1) + option("EXPORT_NAME", b""))
    put("nbd-options", "refusals", FLAGS + option("STARTTLS") + option(99, b"xyz") + option("LIST", b"x") +
        option("SET_META_CONTEXT", meta("", "base:allocation")) + option("STRUCTURED_REPLY") +
        option("LIST_META_CONTEXT", meta("nope", "base:")) + option("INFO", info_go("nope")) + option("ABORT"))
    # A GO claiming more data than the server takes (it skips it), cut short by the end of input.
    put("nbd-options", "too-big", FLAGS + struct.pack(">QII", IHAVEOPT, OPT["GO"], 70000) + b"\0" * 64)


REQUEST, EXTENDED_REQUEST = 0x25609513, 0x21E41C71
CMD = {"READ": 0, "WRITE": 1, "DISC": 2, "FLUSH": 3, "TRIM": 4, "CACHE": 5, "WRITE_ZEROES": 6, "BLOCK_STATUS": 7}
FUA, NO_HOLE, DF, REQ_ONE, FAST_ZERO, PAYLOAD_LEN = 1, 2, 4, 8, 16, 32
STRUCTURED, EXTENDED, BASE_ALLOCATION, READ_ONLY, FILE_EXPORT = 1, 2, 4, 8, 16


def request(cmd, offset=0, length=0, flags=0, cookie=1, payload=b""):
    return struct.pack(">IHHQQI", REQUEST, flags, CMD[cmd], cookie, offset, length) + payload


def ext_request(cmd, offset=0, length=0, flags=0, cookie=1, payload=b""):
    return struct.pack(">IHHQQQ", EXTENDED_REQUEST, flags, CMD[cmd], cookie, offset, length) + payload


def nbd_transmission():
    data = bytes(range(256)) * 2
    simple = (request("WRITE", 4096, len(data), payload=data) + request("READ", 4096, 512, cookie=2) +
              request("FLUSH", cookie=3) + request("TRIM", 0, 4096, cookie=4) + request("WRITE_ZEROES", 8192, 4096, cookie=5) +
              request("CACHE", 0, 65536, cookie=6) + request("DISC"))
    put("nbd-transmission", "simple", bytes([0]) + simple)
    put("nbd-transmission", "simple-file", bytes([FILE_EXPORT]) + simple + request("READ", 0, 131072, cookie=7))
    structured = (request("WRITE", 0, len(data), flags=FUA, payload=data) + request("READ", 0, 131072, cookie=2) +
                  request("READ", 0, 4096, flags=DF, cookie=3) + request("BLOCK_STATUS", 0, 1 << 20, cookie=4) +
                  request("BLOCK_STATUS", 0, 1 << 20, flags=REQ_ONE, cookie=5) + request("DISC"))
    put("nbd-transmission", "structured-meta", bytes([STRUCTURED | BASE_ALLOCATION]) + structured)
    put("nbd-transmission", "structured-meta-file", bytes([STRUCTURED | BASE_ALLOCATION | FILE_EXPORT]) + structured)
    extended = (ext_request("WRITE", 0, len(data), flags=PAYLOAD_LEN, payload=data) + ext_request("READ", 0, 8192, cookie=2) +
                ext_request("BLOCK_STATUS", 0, 1 << 20, cookie=3) + ext_request("WRITE_ZEROES", 0, 4096, flags=NO_HOLE | FAST_ZERO, cookie=4) +
                ext_request("DISC"))
    put("nbd-transmission", "extended", bytes([EXTENDED | BASE_ALLOCATION]) + extended)
    refused = (request("WRITE", 0, 512, payload=b"\1" * 512) + request("READ", 1 << 20, 1, cookie=2) +
               request("READ", 0, 300000, cookie=3) + struct.pack(">IHHQQI", REQUEST, 0, 42, 4, 0, 0) +
               request("BLOCK_STATUS", 0, 0, cookie=5) + request("WRITE", (1 << 20) - 1, 2, cookie=6, payload=b"ab") +
               request("TRIM", 0, 1, flags=0x8000, cookie=7))
    put("nbd-transmission", "refused-read-only", bytes([READ_ONLY]) + refused)
    put("nbd-transmission", "bad-magic", bytes([0]) + b"\0" * 28)


def without_padding(archive):
    """The archive up to its last non-zero 512-byte block: GNU tar pads to 10 KiB records."""
    end = len(archive.rstrip(b"\0"))
    return archive[:end + (-end % 512)]


OPTION_REPLY = 0x0003E889045565A9
REP_ACK, REP_SERVER, REP_INFO, REP_META_CONTEXT = 1, 2, 3, 4
ERR_UNSUP, ERR_UNKNOWN = 0x80000001, 0x80000006
INFO_EXPORT = 0
GREETING = b"NBDMAGIC" + struct.pack(">QH", IHAVEOPT, 3)
NEGOTIATE, LIST_EXPORTS, INFO_OP, LIST_META = 0, 1, 2, 3


def reply(option, kind, payload=b""):
    code = OPT[option] if isinstance(option, str) else option
    return struct.pack(">QIII", OPTION_REPLY, code, kind, len(payload)) + payload


def go_replies(option="GO", size=1 << 20):
    return (reply(option, REP_INFO, struct.pack(">HQH", INFO_EXPORT, size, 0x1 | 0x4 | 0x100)) +
            reply(option, REP_INFO, struct.pack(">H", INFO_DESCRIPTION) + b"a disk") +
            reply(option, REP_INFO, struct.pack(">HIII", INFO_BLOCK_SIZE, 1, 4096, 32 << 20)) + reply(option, REP_ACK))


def contexts(option):
    return (reply(option, REP_META_CONTEXT, struct.pack(">I", 1) + b"base:allocation") +
            reply(option, REP_META_CONTEXT, struct.pack(">I", 2) + b"qemu:dirty-bitmap:b") + reply(option, REP_ACK))


def nbd_client_handshake():
    """What a server sends, per the spec, for each operation the client target performs."""
    put("nbd-client-handshake", "negotiate-extended", bytes([NEGOTIATE]) + GREETING + reply("EXTENDED_HEADERS", REP_ACK) +
        contexts("LIST_META_CONTEXT") + contexts("SET_META_CONTEXT") + go_replies())
    put("nbd-client-handshake", "negotiate-structured", bytes([NEGOTIATE]) + GREETING + reply("EXTENDED_HEADERS", ERR_UNSUP) +
        reply("STRUCTURED_REPLY", REP_ACK) + reply("LIST_META_CONTEXT", ERR_UNSUP) + reply("SET_META_CONTEXT", REP_ACK) + go_replies())
    put("nbd-client-handshake", "negotiate-export-name", bytes([NEGOTIATE]) + GREETING + reply("EXTENDED_HEADERS", ERR_UNSUP) +
        reply("STRUCTURED_REPLY", ERR_UNSUP) + reply("GO", ERR_UNSUP) + struct.pack(">QH", 1 << 20, 1))
    put("nbd-client-handshake", "list", bytes([LIST_EXPORTS]) + GREETING + reply("LIST", REP_SERVER, string("disk") + b"a disk") +
        reply("LIST", REP_SERVER, string("")) + reply("LIST", REP_ACK))
    put("nbd-client-handshake", "info", bytes([INFO_OP]) + GREETING + go_replies("INFO"))
    put("nbd-client-handshake", "info-unknown", bytes([INFO_OP]) + GREETING + reply("INFO", ERR_UNKNOWN, b"no such export"))
    put("nbd-client-handshake", "list-meta", bytes([LIST_META]) + GREETING + reply("STRUCTURED_REPLY", REP_ACK) + contexts("LIST_META_CONTEXT"))
    put("nbd-client-handshake", "oldstyle", bytes([NEGOTIATE]) + b"NBDMAGIC" + struct.pack(">QQH", 0x00420281861253, 1 << 20, 1) + b"\0" * 124)


def dirty_map(work):
    """Maps printed by nbdinfo --map, the layout PVE and engine backup read."""
    for name, data in (("data-and-holes", "1 @65536 2 @1048576 3 @8388608 4"), ("all-data", "1 * 1048576")):
        out = subprocess.run(["nbdkit", "-U", "-", "data", data, "size=16M", "--run", "nbdinfo --map \"$uri\""],
                             check=True, capture_output=True).stdout
        put("dirty-map", name + ".map", out)
    put("dirty-map", "merged-dirty.map", b"0 65536 1 dirty\n65536 65536 1 dirty\n131072 1048576 0 clean\n\n1179648 4096 3 dirty\n")
    put("dirty-map", "out-of-order.map", b"65536 4096 1 dirty\n0 4096 1 dirty\n")


# --- OVA ---
def ova(work):
    for name in ("vmware.ovf", "virtualbox.ovf", "ovf2-collection.ovf"):
        with open(os.path.join(ROOT, "fixtures", "ova", name), "rb") as f:
            put("ovf", name, f.read())
    put("ovf", "minimal.ovf", b'<?xml version="1.0"?><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" '
        b'xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:id="f1" ovf:href="d.vmdk"/></References>'
        b'<DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^30"/></DiskSection>'
        b'<VirtualSystem ovf:id="vm"><Name>vm</Name><VirtualHardwareSection>'
        b'<Item><rasd:InstanceID xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">1</rasd:InstanceID></Item>'
        b'</VirtualHardwareSection></VirtualSystem></Envelope>')
    put("ovf", "doctype.ovf", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Envelope>&a;</Envelope>')

    put("ova-manifest", "ovftool.mf", b"SHA256(vm.ovf)= " + b"ab" * 32 + b"\nSHA1(disk1.vmdk)= " + b"cd" * 20 + b"\n")
    put("ova-manifest", "tagged.mf", b"SHA512 (disks/disk1.vmdk) = " + b"ef" * 64 + b"\r\n\r\n")
    put("ova-manifest", "bad-line.mf", b"MD5(x)= 00\nSHA256(../etc/passwd)= zz\n(=)\n")

    # VMDKs made by qemu-img from a small image with data and holes.
    raw = os.path.join(work, "disk.raw")
    with open(raw, "wb") as f:
        f.truncate(1 << 20)
        f.seek(0)
        f.write(b"boot" * 128)
        f.seek(300000)
        f.write(bytes(range(256)) * 64)
    stream = os.path.join(work, "stream.vmdk")
    sparse = os.path.join(work, "sparse.vmdk")
    run("qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, stream)
    run("qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicSparse", raw, sparse)
    for name, path in (("stream-optimized.vmdk", stream), ("monolithic-sparse.vmdk", sparse)):
        with open(path, "rb") as f:
            data = f.read()
        # Trailing zero padding adds nothing a mutator needs.
        put("vmdk", name, data.rstrip(b"\0") + b"\0" * (-len(data.rstrip(b"\0")) % 512))
    flat = os.path.join(work, "flat.vmdk")
    run("qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", flat, "1M")
    with open(flat, "rb") as f:
        put("vmdk", "descriptor.vmdk", f.read())
    put("vmdk", "descriptor-parent.vmdk", b'# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=12345678\n'
        b'parentFileNameHint="/etc/passwd"\ncreateType="monolithicSparse"\nRW 2048 SPARSE "x.vmdk"\n')

    # Tar archives made by GNU tar: ustar, GNU long names, pax, and the OVA layout (descriptor, manifest, disk).
    tree = os.path.join(work, "tree")
    os.makedirs(os.path.join(tree, "disks"))
    shutil.copy(os.path.join(ROOT, "fixtures", "ova", "virtualbox.ovf"), os.path.join(tree, "vm.ovf"))
    shutil.copy(stream, os.path.join(tree, "disks", "disk1.vmdk"))
    with open(os.path.join(tree, "vm.mf"), "w") as f:
        f.write("SHA256(vm.ovf)= " + "00" * 32 + "\n")
    long_name = "d" * 120 + ".txt"
    with open(os.path.join(tree, long_name), "w") as f:
        f.write("long\n")
    os.symlink("vm.ovf", os.path.join(tree, "link"))
    for fmt in ("ustar", "gnu", "pax"):
        members = ["vm.ovf", "vm.mf", "link"] + ([long_name] if fmt != "ustar" else [])
        out = os.path.join(work, fmt + ".tar")
        run("tar", "--format=" + fmt, "-cf", out, "--owner=0", "--group=0", "--mtime=@0", *members, cwd=tree)
        with open(out, "rb") as f:
            put("tar", fmt + ".tar", without_padding(f.read()) + b"\0" * 1024)
    out = os.path.join(work, "disk.tar")
    run("tar", "--format=ustar", "-cf", out, "--owner=0", "--group=0", "--mtime=@0", "disks/disk1.vmdk", cwd=tree)
    with open(out, "rb") as f:
        data = f.read()
    put("tar", "ova-disk.tar", data[:len(data) - len(data) % 512])


# --- Repository files, written by engine backup and engine backup-ct ---
def repository(work):
    repo = os.path.join(work, "repo")
    disk = os.path.join(work, "vm.raw")
    with open(disk, "wb") as f:
        f.truncate(9 << 20)
        f.write(b"data" * 1024)
        f.seek(5 << 20)
        f.write(b"more" * 1024)
    config = os.path.join(work, "qemu.conf")
    with open(config, "w") as f:
        f.write("cores: 2\nmemory: 2048\nscsi0: local:vm-100-disk-0,size=9M\n")
    run("dotnet", ENGINE, "backup", "--repo", repo, "--vmid", "100", "--disk", "scsi0=" + disk, "--disk", "efidisk0=" + disk, "--config", config)
    ct = os.path.join(work, "ct")
    os.makedirs(os.path.join(ct, "etc"))
    with open(os.path.join(ct, "etc", "hostname"), "w") as f:
        f.write("ct\n")
    with open(os.path.join(ct, "big"), "wb") as f:
        f.write(os.urandom(70000))
        f.truncate(1 << 20)
    os.symlink("etc/hostname", os.path.join(ct, "link"))
    os.mkfifo(os.path.join(ct, "fifo"))
    subprocess.run(["setfattr", "-n", "user.note", "-v", "x", os.path.join(ct, "big")], check=False)
    run("dotnet", ENGINE, "backup-ct", "--repo", repo, "--vmid", "200", "--dir", ct)
    for root, _, files in os.walk(os.path.join(repo, "snapshots")):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            kind = root.split(os.sep)[-3]
            if name.endswith(".index"):
                put("repository-index", name, data)
            elif name == "archive.catalog":
                put("catalog", "container.catalog", data)
            elif name == "manifest.json":
                # The target reads the manifest as vm/100/2026-11-26T06:30:00Z: give the seed that id.
                text = re.sub(r'"id": "[^"]*"', '"id": "%s"' % SNAPSHOT, data.decode())
                put("repository-manifest", kind + ".json", text.encode())
    put("repository-manifest", "minimal.json", json.dumps({"id": SNAPSHOT, "devices": [], "stats": {}}).encode())
    put("repository-index", "empty-device", b"ENGINDEX" + struct.pack("<IIqii", 1, 0, 0, 4 << 20, 0) + b"\0" * 8)
    put("catalog", "empty.catalog", b"ENGCTCAT" + struct.pack("<II", 1, 0) + b"\0" + struct.pack("<qqqq", 0, 0, 0, 0) + b"\0" * 8)


# --- Provider JSON lines, as the Perl plugin writes them ---
def provider():
    lines = {
        "backup-vm": [
            {"id": 1, "method": "provider_name"},
            {"id": 2, "method": "job_init", "params": {"start-time": 1764138600}},
            {"id": 3, "method": "backup_init", "params": {"vmid": "100", "vmtype": "qemu", "start-time": "1764138600"}},
            {"id": 4, "method": "backup_get_mechanism", "params": {"vmid": 100, "vmtype": "qemu"}},
            {"id": 5, "method": "backup_vm_query_incremental", "params": {"vmid": "100", "volumes": {"drive-scsi0": {"size": 17179869184}}}},
            {"id": 6, "method": "backup_vm", "params": {"vmid": "100", "guest-config": "cores: 1\n", "volumes": {
                "drive-scsi0": {"nbd-path": "/run/x.sock", "bitmap-mode": "new", "bitmap-name": "b", "size": 8388608}},
                "info": {"bandwidth-limit": 0, "firewall-config": "[OPTIONS]\n"}}},
            {"id": 7, "method": "backup_cleanup", "params": {"vmid": "100", "vmtype": "qemu", "success": 1, "info": {}}},
            {"id": 8, "method": "backup_handle_log_file", "params": {"vmid": "100", "filename": "/tmp/log"}},
            {"id": 9, "method": "job_cleanup"},
        ],
        "restore-vm": [
            {"id": 1, "method": "restore_get_mechanism", "params": {"volname": SNAPSHOT, "storeid": "backup"}},
            {"id": 2, "method": "archive_get_guest_config", "params": {"volname": SNAPSHOT}},
            {"id": 3, "method": "archive_get_firewall_config", "params": {"volname": SNAPSHOT}},
            {"id": 4, "method": "restore_vm_init", "params": {"volname": SNAPSHOT}},
            {"id": 5, "method": "restore_vm_volume_init", "params": {"volname": SNAPSHOT, "device-name": "drive-scsi0", "info": {}}},
            {"id": 6, "method": "restore_vm_volume_cleanup", "params": {"volname": SNAPSHOT, "device-name": "drive-scsi0", "info": {}}},
            {"id": 7, "method": "restore_vm_cleanup", "params": {"volname": SNAPSHOT}},
        ],
        "container": [
            {"id": 1, "method": "backup_container_prepare", "params": {"vmid": "200", "info": {"directory": "/x", "sources": ["."], "backup-user-id": 100000}}},
            {"id": 2, "method": "backup_container", "params": {"vmid": "200", "guest-config": "", "exclude-patterns": ["/tmp/?*"],
                "info": {"directory": "/x", "sources": [".", "./mp/data"], "firewall-config": "", "bandwidth-limit": "0"},
                "archive-name": "ct/200/2026-11-26T06:30:00Z"}},
            {"id": 3, "method": "restore_container_init", "params": {"volname": "ct/200/2026-11-26T06:30:00Z", "info": {}}},
            {"id": 4, "method": "restore_container_cleanup", "params": {"volname": "ct/200/2026-11-26T06:30:00Z", "info": {}}},
        ],
        "file-handle-and-replies": [
            {"id": 1, "method": "backup_vm", "params": {"vmid": "100", "volumes": {"drive-scsi0": {"size": 8388608, "bitmap-mode": "reuse", "file-handle": {"fd-token": 1}}}, "info": {}}},
            {"reply": {"id": "r1", "regions": [[6291456, 65536]], "end": False}},
            {"reply": {"id": "r2", "error": "closure died"}},
        ],
    }
    for name, requests in lines.items():
        put("provider-json", name, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in requests).encode())
    put("provider-json", "malformed", b'{"id":1,"method":"nope"}\n{"id":[1],"method":7}\n{]\nnull\n{"id":2,"method":"backup_cleanup","params":{"vmid":"1","vmtype":"bsd","success":"yes"}}\n')


def qcow2(work):
    """qcow2 images made by qemu-img and qemu-io, with 4 KiB clusters (16 KiB with subclusters) to stay small."""
    raw = os.path.join(work, "qcow2-source.raw")
    with open(raw, "wb") as f:
        f.truncate(256 << 10)
        f.write(b"qcow2 seed " * 1200)
        f.seek(160 << 10)
        f.write(bytes(range(256)) * 32)
    images = {
        "v3.qcow2": ["-o", "cluster_size=4k"],
        "v2.qcow2": ["-o", "compat=0.10,cluster_size=4k"],
        "deflate.qcow2": ["-c", "-o", "cluster_size=4k"],
        "zstd.qcow2": ["-c", "-o", "cluster_size=4k,compression_type=zstd"],
        "extended-l2.qcow2": ["-o", "cluster_size=16k,extended_l2=on"],
    }
    for name, options in images.items():
        path = os.path.join(work, name)
        run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", *options, raw, path)
        if name in ("v3.qcow2", "extended-l2.qcow2"):
            run("qemu-io", "-f", "qcow2", "-c", "write -z 0 8k", "-c", "write -P 0x5a 200k 2k", path)
        with open(path, "rb") as f:
            put("qcow2", name, f.read())
    bitmap = os.path.join(work, "bitmap.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", bitmap, "256k")
    run("qemu-img", "bitmap", "--add", bitmap, "b0")
    run("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 64k 8k", bitmap)
    with open(bitmap, "rb") as f:
        put("qcow2", "bitmap.qcow2", f.read())
    # An overlay whose backing file is the input itself (the harness writes every input as fuzz.qcow2): a loop.
    loop = os.path.join(work, "loop.qcow2")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", loop, "256k")
    run("qemu-img", "rebase", "-u", "-b", "fuzz.qcow2", "-F", "qcow2", loop)
    with open(loop, "rb") as f:
        put("qcow2", "loop.qcow2", f.read())


def main():
    if os.path.isdir(CORPORA):
        shutil.rmtree(CORPORA)
    with tempfile.TemporaryDirectory() as work:
        nbd_options()
        nbd_transmission()
        nbd_client_handshake()
        dirty_map(work)
        ova(work)
        repository(work)
        provider()
        qcow2(work)
    for target in sorted(os.listdir(CORPORA)):
        files = os.listdir(os.path.join(CORPORA, target))
        print(f"{target}: {len(files)} seeds, {sum(os.path.getsize(os.path.join(CORPORA, target, f)) for f in files)} bytes")


if __name__ == "__main__":
    sys.exit(main())
