#!/usr/bin/env python3
"""Reads troupe's metrics in the Prometheus text format with the real parser
(prometheus_client.parser, python3-prometheus-client) and checks them.

  check_exposition.py --text PROGRAM EXPECT.json
      runs PROGRAM, which writes the exposition to stdout
  check_exposition.py --scrape PROGRAM EXPECT.json
      runs PROGRAM, which serves /metrics (prometheus-cpp's Exposer) and
      prints "port N" on its first line; scrapes http://127.0.0.1:N/metrics
      over loopback, then closes PROGRAM's stdin to let it exit

Checks, for every family whose name starts with troupe_: the text parses;
each family is declared (# TYPE) once; names and label names are valid and
carry their unit (durations end in _seconds, mailbox sizes in _messages);
counters end in _total and nothing else does; no series (name and label
set) appears twice; histogram buckets are cumulative and the +Inf bucket
equals _count. Then every family and sample value EXPECT.json lists.
Deterministic: the program's workload is, and nothing here is timed.
"""

import json
import math
import re
import subprocess
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Words that say what a value measures, and the unit its name must end in.
UNIT_WORDS = {
    "duration": "_seconds", "sojourn": "_seconds", "busy": "_seconds", "latency": "_seconds",
    "depth": "_messages", "high_water": "_messages", "capacity": "_messages",
}

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def declared_types(text):
    """The (name, type) of every # TYPE line, in order."""
    out = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            out.append((name, kind))
    return out


def check_conventions(text, families):
    types = declared_types(text)
    names = [n for n, _ in types if n.startswith("troupe_")]
    for n in set(names):
        if names.count(n) != 1:
            fail("family %s declared %d times" % (n, names.count(n)))
    for name, kind in types:
        if not name.startswith("troupe_"):
            continue  # e.g. the exposer's own exposer_* families
        if not METRIC_NAME.match(name):
            fail("invalid metric name %s" % name)
        if (kind == "counter") != name.endswith("_total"):
            fail("%s is a %s: counters, and only counters, end in _total" % (name, kind))
        stem = name[:-len("_total")] if name.endswith("_total") else name
        for word, unit in UNIT_WORDS.items():
            if word in stem and not stem.endswith(unit):
                fail("%s measures %s but does not end in %s" % (name, word, unit))
        if "seconds" in stem and not stem.endswith("_seconds"):
            fail("%s: the unit goes last" % name)

    seen = set()
    for f in families:
        if not f.name.startswith("troupe_"):
            continue
        buckets = {}
        counts = {}
        for s in f.samples:
            for label in s.labels:
                if not LABEL_NAME.match(label) or label.startswith("__"):
                    fail("%s: invalid label name %r" % (s.name, label))
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in seen:
                fail("series twice: %s%s" % key)
            seen.add(key)
            if f.type == "counter" and not (s.name.endswith("_total") or s.name.endswith("_created")):
                fail("counter sample %s does not end in _total" % s.name)
            if f.type == "histogram":
                rest = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                if s.name.endswith("_bucket"):
                    buckets.setdefault(rest, []).append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_count"):
                    counts[rest] = s.value
        for rest, bs in buckets.items():
            bs.sort()
            if bs[-1][0] != math.inf:
                fail("%s%s has no +Inf bucket" % (f.name, rest))
            for (_, a), (_, b) in zip(bs, bs[1:]):
                if b < a:
                    fail("%s%s: buckets not cumulative" % (f.name, rest))
            if counts.get(rest) != bs[-1][1]:
                fail("%s%s: +Inf bucket %s != _count %s" % (f.name, rest, bs[-1][1], counts.get(rest)))


def label_matches(name, want, got):
    if got is None:
        return False
    if name == "le":
        return float(want) == float(got)
    if want.startswith("~"):
        return got.endswith(want[1:])
    return want == got


def check_expected(families, expect):
    # Families as the parser names them: a counter's without its _total.
    have = {f.name for f in families}
    for name in expect["families"]:
        parsed = name[:-len("_total")] if name.endswith("_total") else name
        if parsed not in have:
            fail("family %s missing" % name)
    samples = [s for f in families for s in f.samples]
    for e in expect["samples"]:
        hits = [s for s in samples
                if s.name == e["name"] and len(s.labels) == len(e["labels"])
                and all(label_matches(k, v, s.labels.get(k)) for k, v in e["labels"].items())]
        if len(hits) != 1:
            fail("%s%s: %d matching samples, want 1" % (e["name"], e["labels"], len(hits)))
        elif hits[0].value != e["value"]:
            fail("%s%s = %s, want %s" % (e["name"], e["labels"], hits[0].value, e["value"]))


def check(text, expect):
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as ex:  # the parser rejects the text
        fail("the parser rejected the exposition: %s" % ex)
        return
    print("parsed %d families, %d samples" % (len(families), sum(len(f.samples) for f in families)))
    check_conventions(text, families)
    check_expected(families, expect)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("--text", "--scrape"):
        print(__doc__)
        return 2
    mode, program, expect_path = sys.argv[1:]
    with open(expect_path) as f:
        expect = json.load(f)
    if mode == "--text":
        out = subprocess.run([program], check=True, stdout=subprocess.PIPE, timeout=120).stdout
        check(out.decode("utf-8"), expect)
    else:
        proc = subprocess.Popen([program], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            first = proc.stdout.readline().decode().split()
            if len(first) != 2 or first[0] != "port":
                fail("expected 'port N' from the program, got %r" % " ".join(first))
            else:
                url = "http://127.0.0.1:%s/metrics" % first[1]
                print("scraping " + url)
                # No proxy: the request must go over loopback to the exposer.
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                with opener.open(url, timeout=30) as r:
                    if r.status != 200:
                        fail("HTTP %d from %s" % (r.status, url))
                    check(r.read().decode("utf-8"), expect)
        finally:
            proc.stdin.close()  # the program exits when its stdin closes
            rc = proc.wait(timeout=60)
            if rc != 0:
                fail("the program exited with %d" % rc)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
