"""Helpers shared by the benchmark summary scripts: reading the raw TSV files and formatting ratios."""
import csv
import os


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
