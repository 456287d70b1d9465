"""Benchmark of python3 -m probex.scan: models per second per worker process and the scaling to N workers.

    PYTHONPATH=python /usr/bin/python3 python/bench_scan.py BUNDLE ROOT... [--workers 1,2] [--runs 3]

Prints, on the models found under the ROOTs (the page cache warmed by a first pass, so the figures are the
CPU's, not the disk's; the bytes per model say what a cold disk or a network file system must deliver):
  discovery  the walk alone (probex_model_format on every entry), in the client;
  in-process one Auditor in this process, no Dask: the ceiling of one worker;
  dask N     whole scans (discovery, batches on N local worker processes, records written to a file),
             after the workers opened the bundle; the median of --runs, and the scaling against 1 worker.
A program, not a test: the figures are noisy on a shared machine; docs quote them with the machine.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import statistics
import sys
import tempfile
import time


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def model_bytes(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    return os.path.getsize(path)


def cpu_seconds() -> float:
    """User + system CPU time of this process, its threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def open_on_worker(bundle: str, auditor_options: tuple) -> None:
    from probex.scan import _auditor
    _auditor(bundle, (), auditor_options)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("roots", nargs="+")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure (default 1,2)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import probex
    from distributed import Client, LocalCluster
    from probex.scan import find_models, scan

    print(f"cpu: {cpu_model()}, {os.cpu_count()} cores; probex {probex.version()} ({probex.library_path()})")
    models = list(find_models(args.roots))  # warms the page cache for the walk
    start = time.perf_counter()
    models = list(find_models(args.roots))
    seconds = time.perf_counter() - start
    size = sum(model_bytes(m) for m in models)
    with probex.Bundle(args.bundle) as bundle:
        layers = {t.name: t.shape for t in bundle.trees}
    print(f"models: {len(models)} under {' '.join(args.roots)}, {size / len(models) / 1024:.0f} KiB per model on "
          f"disk; probed layers {layers}")
    print(f"discovery: {len(models) / seconds:.0f} models/s ({seconds:.2f} s, the client's walk alone)")

    with probex.Bundle(args.bundle) as bundle, probex.Auditor(bundle) as auditor:
        for m in models:  # warm: page cache, the auditor's arena
            auditor.audit_record(m)
        rates = []
        for _ in range(args.runs):
            start = time.perf_counter()
            for m in models:
                auditor.audit_record(m)
            rates.append(len(models) / (time.perf_counter() - start))
    print(f"in-process: {statistics.median(rates):.0f} models/s (one Auditor, audit_record, no Dask; "
          f"median of {args.runs})")

    base = None
    for n in (int(w) for w in args.workers.split(",")):
        start = time.perf_counter()
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            startup = time.perf_counter() - start
            start = time.perf_counter()
            client.run(open_on_worker, os.path.abspath(args.bundle), (("threads", 1),))
            opening = time.perf_counter() - start
            rates = []
            client_cpu, workers_cpu = cpu_seconds(), sum(client.run(cpu_seconds).values())
            for _ in range(args.runs):
                with tempfile.TemporaryDirectory() as tmp:
                    result = scan(client, args.bundle, args.roots, os.path.join(tmp, "out.jsonl"), batch=args.batch)
                assert result.audited == len(models), (result.audited, len(models))
                rates.append(result.audited / result.seconds)
            audits = args.runs * len(models)
            client_cpu = (cpu_seconds() - client_cpu) / audits * 1e3
            workers_cpu = (sum(client.run(cpu_seconds).values()) - workers_cpu) / audits * 1e3
        rate = statistics.median(rates)
        base = base or rate
        print(f"dask {n} worker{'s' if n > 1 else ''}: {rate:.0f} models/s, {rate / n:.0f} per worker process, "
              f"scaling x{rate / base:.2f} (runs: {', '.join(f'{r:.0f}' for r in rates)}); CPU per model: "
              f"client {client_cpu:.3f} ms, workers {workers_cpu:.3f} ms; cluster start {startup:.1f} s, "
              f"bundle open + self-test on the workers {opening:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
