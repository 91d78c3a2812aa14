#!/usr/bin/python3
"""Where a backup's CPU goes, by stage: classifies `perf script` samples (stdin) by the frames of each stack.

Usage: perf record -F 999 -g -o perf.data -- engine backup ...
       perf script -i perf.data | /usr/bin/python3 bench/perf_stages.py [HZ=999] [GIB_READ=4]
Prints a Markdown table: share of samples, CPU s (samples / HZ) and CPU s per GiB read, per stage. The first frame,
leaf first, that matches a rule decides the stage (so memmove under the chunk writer counts as the copy).
"""
import sys, collections
rules = [  # (stage, substrings; the first frame, leaf first, that matches one decides)
    ("copy (memmove)", ["__memmove"]),
    ("hash (SHA-256)", ["libcrypto", "sha256", "SHA256"]),
    ("zero check", ["IndexOfValueType", "IndexOfAnyExcept", "ContainsAnyExcept", "IsAllZero", "ZeroCheck"]),
    ("compress (zstd)", ["ZstdSharp", "Zstd"]),
    ("payload checksum (xxhash)", ["XxHash"]),
    ("write chunk files", ["ksys_pwrite", "ksys_write", "__x64_sys_pwrite", "__x64_sys_write", "io_uring", "renameat", "__x64_sys_rename", "do_sys_open", "__x64_sys_openat", "__x64_sys_unlink", "ChunkStore__Put"]),
    ("fsync/syncfs", ["sys_syncfs", "sys_fsync", "sys_fdatasync", "sync_file_range"]),
    ("NBD receive (socket)", ["recvfrom", "recvmsg", "sys_recv", "sys_read", "ReceiveAsync", "NbdClientConnection__Receive"]),
    ("NBD send", ["sys_sendto", "sys_sendmsg", "sys_send", "SendAsync"]),
    ("scheduling/futex/threads", ["futex", "finish_task_switch", "schedule", "epoll", "Threading", "irqentry_exit"]),
]
def classify(frames):
    for f in frames:
        for stage, keys in rules:
            if any(k in f for k in keys):
                return stage
    return "other"
counts = collections.Counter(); total = 0; frames = []; hz = float(sys.argv[1]) if len(sys.argv) > 1 else 999
def flush():
    global total
    if frames:
        counts[classify(frames)] += 1; total += 1
for line in sys.stdin:
    if not line.strip():
        flush(); frames = []; continue
    if line[0] in " \t":
        frames.append(line.strip())
flush()
gib = float(sys.argv[2]) if len(sys.argv) > 2 else 4
print(f"| stage | share | CPU s | CPU s per GiB read |\n|---|---:|---:|---:|")
for stage, n in counts.most_common():
    print(f"| {stage} | {100*n/total:.1f} % | {n/hz:.2f} | {n/hz/gib:.3f} |")
print(f"| total | 100 % | {total/hz:.2f} | {total/hz/gib:.3f} |")
