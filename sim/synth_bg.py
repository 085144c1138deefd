"""Yosys synthesis of a `bireal build` off the job's critical path: a detached process.

    p = start(out)               # after FIFO sizing: `python -m sim.synth_bg OUT`, own session, nice 19
    entry = settle(out, p, res)  # the job's end: build.json's "synth" entry (running / done / failed)
    stop(out)                    # a new build into OUT, or a failed one: end a running synthesis
    wait(out)                    # block until it lands (`bireal report --build OUT --wait`)

The process runs sim.synth_design on OUT/hw (-> OUT/hw/synth.json, synth.txt), logs to
OUT/synth.log and writes OUT/synth_state.json = {"status": "done" | "failed", "error",
"seconds"}. The job and the process both want to record the outcome in OUT/build.json and
OUT/report.md/html; an flock on OUT/.synth.lock orders them so exactly one does it:
  - the process, once landed: under the lock, if build.json exists (the job has ended) it sets
    build.json["synth"] from the state file and rewrites the report (both renamed into place);
    otherwise it leaves that to the job;
  - the job, at its end: under the lock, reads the state file: present -> "done"/"failed",
    absent -> "running" with the pid and log path, and writes build.json + report itself.
build.json keeps `synth_ran` (Yosys numbers are in hw/synth.json) and `synth_error` in step.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STATE, LOG, LOCK = "synth_state.json", "synth.log", ".synth.lock"
NICE = 19            # the job's Verilator build and simulation keep the cores; Yosys gets the rest


@contextlib.contextmanager
def _locked(out: Path):
    with open(Path(out) / LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read(p: Path) -> dict | None:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def start(out) -> subprocess.Popen:
    """Start the detached synthesis of OUT/hw (its own session: it outlives the job)."""
    out = Path(out).resolve()
    (out / STATE).unlink(missing_ok=True)
    log = open(out / LOG, "w")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[1])] + [p for p in os.environ.get(
            "PYTHONPATH", "").split(os.pathsep) if p])}
    try:
        return subprocess.Popen([sys.executable, "-m", "sim.synth_bg", str(out)], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    finally:
        log.close()


def _alive(pid) -> bool:
    """pid is a running sim.synth_bg process (not a reused pid, not a zombie)."""
    try:
        cmd = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
        st = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, TypeError, ValueError):
        return False
    return b"sim.synth_bg" in cmd and st.rsplit(")", 1)[-1].split()[0] != "Z"


def entry(out, pid: int | None = None) -> dict:
    """build.json's "synth" entry from the state file (or "running" while the process is)."""
    out = Path(out)
    st = _read(out / STATE)
    log = str((out / LOG).resolve())
    if st:
        return {"status": st["status"], "error": st.get("error"), "seconds": st.get("seconds"),
                "log": log}
    if pid is not None and _alive(pid):
        return {"status": "running", "pid": int(pid), "log": log,
                "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    return {"status": "failed", "error": f"the synthesis process ended without a result "
            f"(see {log})", "seconds": None, "log": log}


def apply(res: dict, e: dict) -> dict:
    """build.json content with synth entry e (synth_ran / synth_error kept in step)."""
    prev = res.get("synth") or {}
    if "started" in prev and "started" not in e:
        e = {**e, "started": prev["started"]}
    return {**res, "synth": e, "synth_ran": e["status"] == "done",
            "synth_error": e.get("error") if e["status"] == "failed" else None}


def settle(out, proc: subprocess.Popen | None, res: dict, write) -> dict:
    """The job's end: record the synthesis outcome in res, then write(res) (build.json +
    report), all under the lock so a landing synthesis waits for it. Returns res."""
    out = Path(out)
    with _locked(out):
        res = apply(res, entry(out, proc.pid if proc is not None else None))
        write(res)
    return res


def stop(out, proc: subprocess.Popen | None = None) -> bool:
    """End the synthesis process of OUT (proc, or the pid build.json records as running) and
    its Yosys children; True if one was running."""
    out = Path(out)
    pid = proc.pid if proc is not None else ((_read(out / "build.json") or {}).get(
        "synth") or {}).get("pid")
    if pid is None or not _alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(int(pid), signal.SIGTERM)
        os.killpg(int(pid), signal.SIGCONT)       # a stopped process acts on it only now
    if proc is not None:
        proc.wait()
    else:
        for _ in range(100):
            if not _alive(pid):
                break
            time.sleep(0.1)
    return True


def wait(out, poll: float = 2.0, quiet: bool = False) -> dict:
    """Block until OUT's background synthesis has landed; returns build.json's synth entry."""
    out = Path(out)
    while True:
        b = _read(out / "build.json") or {}
        e = b.get("synth") or {}
        if e.get("status") != "running":
            return e
        if not _alive(e.get("pid")):          # landed (build.json updated) or died
            with _locked(out):
                b = _read(out / "build.json") or {}
                if (b.get("synth") or {}).get("status") == "running":
                    _record(out, b)           # died without recording: say so
            return (_read(out / "build.json") or {}).get("synth") or {}
        if not quiet:
            print(f"waiting for Yosys (pid {e['pid']}, log {e['log']}) ...", file=sys.stderr,
                  flush=True)
            quiet = True
        time.sleep(poll)


def _record(out: Path, b: dict):
    """Under the lock: build.json's synth entry from the state file, then the report."""
    from model.export import save_json

    from .report import write_report
    save_json(out / "build.json", apply(b, entry(out)))
    write_report(out)


def cmd_report(a):
    """`bireal report --build DIR [--wait]`: rewrite DIR's report (after waiting for a
    background synthesis with --wait)."""
    from model.errors import BiRealError

    from .report import write_report
    out = Path(a.build)
    if not (out / "build.json").is_file():
        raise BiRealError(f"{out / 'build.json'} not found: {out} is not a `bireal build` "
                          "folder")
    e = wait(out) if a.wait else ((_read(out / "build.json") or {}).get("synth") or {})
    with _locked(out):
        rep = write_report(out)
    print(f"synth        {e.get('status', 'not recorded')}"
          + (f": {e['error']}" if e.get("error") else "")
          + (f" (pid {e['pid']}, log {e['log']})" if e.get("status") == "running" else ""))
    print(f"report       {rep['md']} (+ {Path(rep['html']).name})")


def add_command(sub):
    s = sub.add_parser("report", help="rewrite a `bireal build` folder's report.md/html; "
                       "--wait first waits for its background Yosys synthesis to land")
    s.add_argument("--build", required=True, help="the `bireal build --out` folder")
    s.add_argument("--wait", action="store_true", help="wait for a running Yosys synthesis")
    s.set_defaults(fn=cmd_report)


def main(argv=None) -> int:
    """The detached process: synthesize OUT/hw, write the state file, record if the job ended."""
    p = argparse.ArgumentParser(prog="python -m sim.synth_bg")
    p.add_argument("out")
    a = p.parse_args(argv)
    out = Path(a.out)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    t0 = time.time()
    st = {"status": "done", "error": None}
    try:
        from .synth_design import synth_design
        synth_design(out / "hw", per_unit=False, quiet=False)
    except Exception as e:  # noqa: BLE001 - recorded, the report says why
        st = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
        print(f"synth: {st['error']}", file=sys.stderr, flush=True)
    st["seconds"] = round(time.time() - t0, 1)
    from model.export import save_json
    save_json(out / STATE, st)
    with _locked(out):
        b = _read(out / "build.json")
        if b is not None:                     # the job has ended: record it here
            _record(out, b)
    print(f"synth: {st['status']} in {st['seconds']:.0f} s; recorded in {out / 'build.json'}",
          flush=True)
    return 0 if st["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
