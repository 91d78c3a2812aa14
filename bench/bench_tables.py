"""Helpers shared by the benchmark summary scripts: reading the raw TSV files and formatting ratios."""
import csv
import os
import statistics


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def read_env(out):
    """OUT/env.txt as (env, notes, checks): "key: value" lines, the "note: ..." texts, and the "check...: ..." lines."""
    env, notes, checks = {}, [], []
    path = os.path.join(out, "env.txt")
    if os.path.exists(path):
        for line in open(path):
            k, _, v = line.partition(": ")
            if k == "note":
                notes.append(v.strip())
                continue
            if k.startswith("check"):
                checks.append(line.strip())
            env[k] = v.strip()
    return env, notes, checks


def values(raw, case, client, col):
    """The numbers in column COL of CASE/CLIENT's rows of raw.tsv (empty cells skipped)."""
    return [float(r[col]) for r in raw if r["case"] == case and r["client"] == client and r.get(col, "") != ""]


def median(raw, case, client, col):
    v = values(raw, case, client, col)
    return statistics.median(v) if v else None
