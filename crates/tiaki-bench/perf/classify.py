#!/usr/bin/env python3
"""Groups the CPU samples of a Tiaki server by what they were spent on.

Capture (while a W1 Tiaki round runs; see BENCHMARKS.md):
    perf record -e cpu-clock -F 250 --call-graph dwarf,32768 -p PID -o perf.data -- sleep 8
    perf script -i perf.data -F comm,tid,ip,sym > perf.txt
    python3 crates/tiaki-bench/perf/classify.py perf.txt

Each sample is attributed to the first frame, walking from the leaf towards the root,
whose function belongs to a known component (kernel and libc frames are skipped, so a
futex wake is charged to whoever caused it). Frames are matched on the function's path
only, not on its generic parameters, which name half the program when inlined.
"""

import collections
import re
import sys


def read_samples(path):
    samples, cur = [], None
    for line in open(path, errors="replace"):
        if not line.strip():
            if cur:
                samples.append(cur)
            cur = None
        elif not line[0].isspace():
            parts = line.split()
            cur = {"comm": parts[0], "frames": []}
        elif cur is not None:
            fields = line.strip().split(None, 1)
            cur["frames"].append(fields[1] if len(fields) > 1 else fields[0])
    if cur:
        samples.append(cur)
    return samples


def head(frame):
    """The function's path: `<A as B>::f` gives `A`; `a::b::f<T>` gives `a::b::f`."""
    frame = frame.replace(" (inlined)", "")
    if frame.startswith("<"):
        return frame[1:].split(" as ", 1)[0]
    return re.split(r"[<(]", frame, maxsplit=1)[0]


RULES = [
    (r"^(malloc|free|cfree|realloc|_int_malloc|_int_free|_int_realloc|malloc_consolidate|unlink_chunk|__GI___libc_free|__libc_malloc)", "allocator"),
    (r"^sqlite3", "database"),
    (r"^object_store|^std::fs|^std::sys::fs|^tokio::runtime::blocking|^tokio::fs", "blob read (object_store + blocking pool)"),
    (r"aes|ghash|polyval|aes_gcm|tiaki_crypto", "AES-GCM"),
    (r"^flume|^sqlx", "database"),
    (r"^mio|^tokio::net|^tokio::io|^hyper|^axum|^tower|^http::|^http_body|^hyper_util|^matchit", "HTTP (hyper/axum, client socket)"),
    (r"^tokio::runtime|^tokio::sync|^std::thread|^parking_lot|^std::sys::sync", "scheduler"),
]


def classify(sample):
    if sample["comm"].startswith("sqlx"):
        return "database"
    heads = [head(f) for f in sample["frames"]]
    for h in heads:
        for pattern, group in RULES:
            if re.search(pattern, h):
                if group != "scheduler":
                    return group
                # A wake or a park is charged to the component that caused it.
                rest = " ".join(heads)
                if re.search(r"sqlx|flume", rest):
                    return "database"
                if re.search(r"blocking::pool|object_store|spawn_blocking", rest):
                    return "blob read (object_store + blocking pool)"
                if re.search(r"hyper", rest):
                    return "HTTP (hyper/axum, client socket)"
                return "scheduler, other"
    return "other (tiaki code, audit sequencer, SHA-256, serde, time)"


def main():
    samples = read_samples(sys.argv[1])
    groups = collections.Counter(classify(s) for s in samples)
    total = sum(groups.values()) or 1
    print(f"{total} samples")
    print("| spent on | share of Tiaki's CPU |")
    print("|---|---:|")
    for group, n in groups.most_common():
        print(f"| {group} | {100 * n / total:.0f} % |")


if __name__ == "__main__":
    main()
