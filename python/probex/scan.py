"""Audit every model under folders on a Dask cluster, one JSON line per model, resumable and exactly-once.

    python3 -m probex.scan BUNDLE ROOT... --out results.jsonl [--scheduler ADDRESS] [--workers N]

Models are found by content (probex_model_format), as probex-agent finds them: any file the runtime reads,
and a folder that is a model (a sharded checkpoint, a PEFT adapter) as one model, not entered. The models
are audited in batches on Dask workers; each worker process opens and self-tests the bundle once. Each line
of --out is the record probex-audit --json prints (docs/audit-json.md), failed audits included.

Exactly once: only this process writes --out, a batch's lines when its result arrives, and Dask delivers a
task's result once however often the task ran (a worker killed mid-batch has its batches run elsewhere).
Resumable: the models already in --out are skipped; a line cut short by a crash is dropped and redone.
Without --scheduler, a local cluster of worker processes, one per core.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional

MAX_DEPTH = 16  # as probex-agent: symbolic links can make folder cycles

# ---------------------------------------------------------------------------------------------------------
# Finding the models


def find_models(roots: Iterable[str], on_error: Callable[[str], None] = lambda message: None) -> Iterator[str]:
    """Every model under the roots, as probex-agent finds them: entries in name order, depth first, hidden
    entries skipped, a folder that is a model yielded and not entered. Paths are the root joined with the
    names (as given, not resolved). Unreadable paths go to on_error."""
    import probex

    def is_model(path: str) -> bool:
        try:
            return probex.model_format(path) is not None
        except probex.ProbexError as e:
            on_error(f"{e.message} [{e.status}]")
            return False

    def walk(folder: str, depth: int) -> Iterator[str]:
        if depth > MAX_DEPTH:
            return
        if is_model(folder):
            yield folder
            return
        try:
            names = sorted(name for name in os.listdir(folder) if not name.startswith("."))
        except OSError as e:
            on_error(f"cannot list folder {folder}: {e.strerror}")
            return
        for name in names:
            path = f"{folder}/{name}"
            if os.path.isdir(path):
                yield from walk(path, depth + 1)
            elif is_model(path):
                yield path

    for root in roots:
        root = root.rstrip("/") or "/"
        if os.path.isdir(root):
            yield from walk(root, 0)
        elif is_model(root):
            yield root


# ---------------------------------------------------------------------------------------------------------
# On the workers

_worker_lock = threading.Lock()
_worker_bundles: dict = {}          # (bundle path, options) -> probex.Bundle, opened once per process
_worker_auditors = threading.local()  # one auditor per worker thread (an auditor runs one audit at a time)


def _auditor(bundle_path: str, bundle_options: tuple, auditor_options: tuple):
    import probex

    key = (bundle_path, bundle_options, auditor_options)
    auditors = getattr(_worker_auditors, "by_key", None)
    if auditors is None:
        auditors = _worker_auditors.by_key = {}
    if key not in auditors:
        with _worker_lock:
            if key[:2] not in _worker_bundles:
                _worker_bundles[key[:2]] = probex.Bundle(bundle_path, **dict(bundle_options))
        auditor = probex.Auditor(_worker_bundles[key[:2]], **dict(auditor_options))
        auditor.self_test()  # does this worker compute what the converter did? (as probex-agent checks)
        auditors[key] = auditor
    return auditors[key]


def audit_batch(bundle_path: str, bundle_options: tuple, auditor_options: tuple,
                paths: list[str]) -> list[tuple[str, str, Optional[str]]]:
    """Each model's record, status and tree (runs on a worker). The status and tree are read here, in
    parallel, so that the one client does not parse every record for its summary."""
    auditor = _auditor(bundle_path, bundle_options, auditor_options)
    out = []
    for path in paths:
        record = auditor.audit_record(path)
        fields = json.loads(record)
        out.append((record, fields["status"], fields["tree"]))
    return out


# ---------------------------------------------------------------------------------------------------------
# The output file


def read_done(out: str) -> list[dict]:
    """The records already in `out`. A tail that is no whole record (a line cut short by a crash, zeros
    after a power cut) is cut off the file, so that its models are audited again and the file stays one
    record per line."""
    if not os.path.exists(out):
        return []
    records = []
    with open(out, "rb+") as f:
        data = f.read()
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            try:
                if end < 0:
                    raise ValueError("no newline")
                records.append(json.loads(data[start:end]))
            except ValueError:
                # After a power cut the tail may be cut short or hold zeros: drop it, its models are redone.
                # A bad line followed by good ones is not ours to repair.
                if any(line.strip(b"\0").strip() for line in data[start:].split(b"\n")[1:]):
                    raise ValueError(f"{out}: line {len(records) + 1} is not a JSON record") from None
                f.truncate(start)
                break
            start = end + 1
    return records


@dataclass
class Summary:
    """What --out holds: per tree counts, models of no known tree, failures by status."""
    trees: collections.Counter = field(default_factory=collections.Counter)
    unknown: int = 0
    failures: collections.Counter = field(default_factory=collections.Counter)
    models: int = 0

    def add(self, status: str, tree: Optional[str]) -> None:
        self.models += 1
        if status != "ok":
            self.failures[status] += 1
        elif tree is None:
            self.unknown += 1
        else:
            self.trees[tree] += 1

    def lines(self) -> list[str]:
        out = [f"{self.models} models in the output"]
        out.append("trees: " + (", ".join(f"{t} {n}" for t, n in sorted(self.trees.items())) or "none"))
        out.append(f"unknown tree: {self.unknown}")
        out.append("failures: " + (", ".join(f"{s} {n}" for s, n in sorted(self.failures.items())) or "none"))
        return out


@dataclass
class ScanResult:
    summary: Summary
    audited: int            # models audited by this run
    skipped: int            # models already in --out
    lost: list[str]         # models whose batch killed its workers every time it ran (not written: a re-run retries)
    path_errors: list[str]  # paths that could not be read while looking for models
    seconds: float


# ---------------------------------------------------------------------------------------------------------
# The client


class _Progress:
    """models done / found, models per second, ETA: one line redrawn on a terminal, else a line every 10 s."""

    def __init__(self, stream, enabled: bool):
        self.stream, self.enabled = stream, enabled
        self.tty = enabled and stream.isatty()
        self.start = self.last = time.monotonic()

    def show(self, done: int, total: int, discovering: bool, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last < (0.25 if self.tty else 10.0)):
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        if final:
            when = f"done in {_duration(elapsed)}"
        else:  # the total grows while models are still being found: no ETA before it is known
            when = "ETA " + ("?" if discovering or rate == 0 else _duration((total - done) / rate))
        line = f"{done}/{total}{'+' if discovering else ''} models, {rate:.1f} models/s, {when}"
        if self.tty:
            self.stream.write("\r\x1b[K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


def scan(client, bundle_path: str, roots: list[str], out: str, *, batch: int = 256,
         bundle_options: Optional[dict] = None, auditor_options: Optional[dict] = None,
         progress=None, on_batch: Optional[Callable[[int], None]] = None) -> ScanResult:
    """Audits every model under `roots` not yet in `out` on the Dask `client`'s workers and appends their
    records to `out`. `progress`: a stream for the progress line (None: silent). `on_batch(done)` is called
    after each batch is written (tests use it to kill a worker mid-scan)."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    import probex

    start = time.monotonic()
    bundle_opts = tuple(sorted((bundle_options or {}).items()))
    auditor_opts = tuple(sorted((auditor_options or {"threads": 1}).items()))
    with probex.Bundle(bundle_path, **dict(bundle_opts)):  # fail here, once, rather than on every worker
        pass
    bundle_path = os.path.abspath(bundle_path)  # the workers' working folder may differ

    summary = Summary()
    done: set[str] = set()
    for record in read_done(out):
        summary.add(record["status"], record["tree"])
        done.add(os.path.abspath(record["model"]))

    # The walk runs in a thread (reading headers is I/O; ctypes releases the GIL) so that audits start
    # at once and the total grows while models are found.
    found: "queue.Queue[Optional[list[str]]]" = queue.Queue()
    counts = {"found": 0, "skipped": 0}
    path_errors: list[str] = []
    walk_failure: list[BaseException] = []  # raised again here: a walk cut short must not pass as complete

    def discover() -> None:
        seen: set[str] = set()
        pending: list[str] = []
        # Batches start small and double up to `batch`: every worker starts at once and a small scan is
        # spread; large batches then spread a task's fixed cost (client, scheduler, worker) over many models.
        size = min(batch, 8)
        try:
            for path in find_models(roots, path_errors.append):
                key = os.path.abspath(path)  # overlapping roots: one model once (no syscall, unlike realpath)
                if key in seen:
                    continue
                seen.add(key)
                if key in done:
                    counts["skipped"] += 1
                    continue
                counts["found"] += 1
                pending.append(path)
                if len(pending) == size:
                    found.put(pending)
                    pending = []
                    size = min(batch, 2 * size)
        except BaseException as e:
            walk_failure.append(e)
        finally:
            if pending:
                found.put(pending)
            found.put(None)

    walker = threading.Thread(target=discover, name="probex-scan-walk", daemon=True)
    walker.start()

    # Batches in flight: a few per worker thread hide the round trips, and 1M models are never all
    # submitted at once. Workers may join or leave (an adaptive cluster): counted again every 10 s.
    limit = {"value": 0, "when": -1e9}

    def in_flight_limit() -> int:
        if time.monotonic() - limit["when"] > 10:
            limit.update(value=4 * max(1, sum(client.nthreads().values())), when=time.monotonic())
        return limit["value"]

    report = _Progress(progress, progress is not None)
    futures = as_completed()
    in_flight = 0
    discovering = True
    audited = 0
    lost: list[str] = []

    def submit(paths: list[str]) -> None:
        nonlocal in_flight
        future = client.submit(audit_batch, bundle_path, bundle_opts, auditor_opts, paths, pure=False)
        future.paths = paths  # type: ignore[attr-defined]  # for splitting a batch that kills its workers
        futures.add(future)
        in_flight += 1

    def refill(block: bool) -> None:
        nonlocal discovering
        while discovering and in_flight < in_flight_limit():
            try:
                paths = found.get(block=block and in_flight == 0, timeout=None)
            except queue.Empty:
                return
            if paths is None:
                discovering = False
            else:
                submit(paths)

    synced = time.monotonic()
    with open(out, "a", encoding="utf-8") as sink:
        refill(block=True)
        while in_flight:
            future = next(futures)
            in_flight -= 1
            try:
                records = future.result()
            except KilledWorker:
                # The batch's workers died each time it ran (a model that crashes the runtime, or memory):
                # run its models one by one to find the culprit, and leave out only that one.
                if len(future.paths) > 1:
                    for path in future.paths:
                        submit([path])
                else:
                    lost.append(future.paths[0])
                refill(block=False)
                continue
            sink.write("".join(record + "\n" for record, _, _ in records))
            sink.flush()  # in the OS's hands: a killed client loses nothing written
            if time.monotonic() - synced > 1.0:  # a power cut loses at most ~1 s of lines, redone on a re-run
                os.fsync(sink.fileno())
                synced = time.monotonic()
            for _, status, tree in records:
                summary.add(status, tree)
            audited += len(records)
            future.release()
            refill(block=False)
            if in_flight == 0 and discovering:
                refill(block=True)
            report.show(audited, counts["found"], discovering)
            if on_batch:
                on_batch(audited)
        sink.flush()
        os.fsync(sink.fileno())
    walker.join()
    if walk_failure:
        raise walk_failure[0]
    report.show(audited, counts["found"], False, final=True)
    return ScanResult(summary, audited, counts["skipped"], lost, path_errors, time.monotonic() - start)


def _byte_size(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number, unit = (text[:-1], text[-1].upper()) if text[-1:].upper() in units and text[-1:].isalpha() else (text, "")
    try:
        return int(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (a number with an optional K, M, G or T)")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m probex.scan",
        description="Audits every model under the ROOTs on a Dask cluster; one JSON line per model in --out "
                    "(the records of probex-audit --json, failures included). Re-running with the same --out "
                    "audits only the models not yet in it.",
        epilog="exit codes: 0 every model audited, 1 a model failed or could not be read, 2 bad command line")
    parser.add_argument("bundle", metavar="BUNDLE")
    parser.add_argument("roots", metavar="ROOT", nargs="+", help="a folder to search, or a model")
    parser.add_argument("--out", required=True, help="the JSON Lines file to append to (created if missing)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a running Dask scheduler (tcp://host:8786); default: a local cluster of processes")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes of the local cluster (default: one per core, %(default)s)")
    parser.add_argument("--batch", type=int, default=256,
                        help="models per Dask task, at most (default %(default)s; the first tasks are smaller): "
                             "a task costs a few ms of client, scheduler and worker time whatever its size")
    parser.add_argument("--threads", type=int, default=1, help="backend threads per audit (default 1)")
    parser.add_argument("--trusted-key", action="append", default=[], metavar="FILE",
                        help="audit only with a bundle signed by this Ed25519 public key (repeatable)")
    parser.add_argument("--max-model-size", type=_byte_size, default=0, metavar="N",
                        help="refuse model files above N bytes (suffix K, M, G, T; default 64G)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)
    if args.batch < 1 or args.workers < 1 or args.threads < 0:
        parser.error("--batch and --workers need a positive integer, --threads a non-negative one")

    import logging

    import probex
    from distributed import Client, LocalCluster

    try:
        keys = [probex.read_key_file(key_file) for key_file in args.trusted_key]
        with probex.Bundle(args.bundle, trusted_keys=keys):
            pass
    except (probex.ProbexError, ValueError, OSError) as e:
        print(f"probex.scan: {e}", file=sys.stderr)
        return 1

    cluster = None
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        result = scan(client, args.bundle, args.roots, args.out, batch=args.batch,
                      bundle_options={"trusted_keys": tuple(keys)} if keys else None,
                      auditor_options={"threads": args.threads, "max_model_bytes": args.max_model_size},
                      progress=None if args.quiet else sys.stderr)
    except (ValueError, OSError, probex.ProbexError) as e:  # --out not ours or not writable; a worker's bundle
        print(f"probex.scan: {e}", file=sys.stderr)
        return 1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    workers = args.workers if cluster is not None else "the scheduler's"
    rate = result.audited / result.seconds if result.seconds else 0.0
    print(f"audited {result.audited} models in {result.seconds:.1f} s ({rate:.1f} models/s, {workers} workers); "
          f"{result.skipped} already in {args.out}")
    for line in result.summary.lines():
        print(line)
    for message in result.path_errors:
        print(f"probex.scan: {message}", file=sys.stderr)
    for path in result.lost:
        print(f"probex.scan: {path}: not audited, its workers died each time (left for a re-run)", file=sys.stderr)
    failed = sum(result.summary.failures.values()) or result.path_errors or result.lost
    return 1 if failed else 0


if __name__ == "__main__":
    # Run as probex.scan, not __main__: Dask pickles functions of __main__ by value, those of an importable
    # module by name (the workers import it).
    from probex.scan import main as scan_main
    sys.exit(scan_main())
