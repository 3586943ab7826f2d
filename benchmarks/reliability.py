"""Reliability and security figures: runs the fault, crash, bad-input, quota-hygiene, lock and secrets suites and
writes `docs/RELIABILITY.md` from what they measured (prints the same table).

Why a script over the suites rather than its own harness: the figures must be the very measurements the tests assert
on. Each suite's test case records what it measured with pytest's `record_property` (`suite`, `case`, `survived`,
`refused_cleanly`, `kills`, `recovered`, `labels_lost`, `imported_lost`, `duplicate_pushes`, `repeated_gets`,
`tracebacks`, `secret_leaks`, `files_scanned`, `mode_files_checked`, `loose_modes`) before asserting on it; this
script runs the suites with `--junitxml` and adds them up.
A test that fails still counts: its recorded figures go into the table, and the failure is listed.

Run: `python benchmarks/reliability.py` (what CI runs: about the suites' CI time), or a soak:
`RELIABILITY_KILLS=200 python benchmarks/reliability.py --out /tmp/RELIABILITY.md`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The suites, in the order the table shows them: (suite name as recorded, test files, what it tries).
SUITES = [
    ("fault", ["tests/test_faults.py"], "faults injected by the stand-in server at a chosen call"),
    ("crash", ["tests/test_crash.py"], "SIGKILL at seeded points of `features` and `candidates`, then a rerun"),
    ("lock", ["tests/test_locks.py"], "two runs at once"),
    ("bad_input", ["tests/test_bad_inputs.py", "tests/test_export_properties.py"],
     "corrupt and odd exports, config files and feature CSVs"),
    ("quota_hygiene", ["tests/test_quota_hygiene.py"],
     "a multi-day quota-limited `features` and six weekly runs"),
    ("secrets", ["tests/test_secrets.py"], "known secret values, then every file and output scanned"),
]
COUNTS = ("labels_lost", "imported_lost", "duplicate_pushes", "repeated_gets", "tracebacks", "secret_leaks")


def run_suites(files: list[str], junit: Path) -> tuple[int, float]:
    """Runs pytest on the suite files; returns its exit code and the wall time."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
           "-o", "junit_family=xunit1", *files]
    start = time.perf_counter()
    rc = subprocess.call(cmd, cwd=ROOT)
    return rc, time.perf_counter() - start


def read_cases(junit: Path) -> list[dict]:
    """One dict per test case: its properties, its name and whether it passed."""
    cases = []
    for tc in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        failed = tc.find("failure") is not None or tc.find("error") is not None
        skipped = tc.find("skipped") is not None
        file = (tc.get("classname") or "").split("::")[0].replace(".", "/") + ".py"
        cases.append({"test": f"{tc.get('classname')}::{tc.get('name')}", "file": file, "failed": failed,
                      "skipped": skipped, **props})
    return cases


def _int(value) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def summarise(cases: list[dict]) -> dict[str, dict]:
    """Totals per suite: cases run, passed, and the sum of every recorded count."""
    out: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for case in cases:
        suite = case.get("suite")
        if not suite or case["skipped"]:
            continue
        s = out[suite]
        s["cases"] += 1
        s["passed"] += 0 if case["failed"] else 1
        s.setdefault("files", [])
        if case.get("file") and case["file"] not in s["files"]:
            s["files"].append(case["file"])
        for key in ("survived", "refused_cleanly", "kills", "recovered", "files_scanned", "mode_files_checked",
                    "loose_modes", *COUNTS):
            if key in case:
                s[key] += _int(case[key])
                s[f"n_{key}"] += 1      # how many cases measured it (the denominator of a tried / passed figure)
                s.setdefault(f"files_{key}", [])
                if case.get("file") and case["file"] not in s[f"files_{key}"]:
                    s[f"files_{key}"].append(case["file"])
    return out


def _line(label: str, value: str, command: str) -> str:
    return f"| {label} | {value} | `{command}` |"


def render(summary: dict[str, dict], cases: list[dict], rc: int, seconds: float, kills_env: str | None) -> str:
    soak = f"RELIABILITY_KILLS={kills_env} " if kills_env else ""

    def cmd(files: list[str]) -> str:
        prefix = soak if any("crash" in f for f in files) else ""
        return f"{prefix}python -m pytest {' '.join(sorted(files))}"

    def ratio(label: str, suite: str, key: str, tried_key: str | None = None) -> None:
        s = summary.get(suite, {})
        if not s.get(f"n_{key}"):
            return
        tried = s[tried_key] if tried_key else s[f"n_{key}"]
        rows.append(_line(label, f"{tried} / {s[key]}", cmd(s[f"files_{key}"])))

    rows: list[str] = []
    ratio("Faults tried / survived (documented exit code, one-line cause, nothing lost, next run completes)",
          "fault", "survived")
    ratio("Kills tried / recovered (next run completes, integrity ok, invariants hold)", "crash", "recovered",
          "kills")
    ratio("Two runs at once: cases / survived", "lock", "survived")
    ratio("Commands refused while another run holds the lock: tried / refused cleanly", "lock", "refused_cleanly")
    ratio("Bad inputs tried / handled cleanly (imported, or refused in one line with the store unchanged)",
          "bad_input", "refused_cleanly")
    s = summary.get("secrets", {})
    if s.get("n_files_scanned"):
        rows.append(_line("Files and outputs scanned for secrets", str(s["files_scanned"]),
                          cmd(s["files_files_scanned"])))
    if s.get("n_mode_files_checked"):
        rows.append(_line("Files checked for their mode / readable by others (the token cache and every personal "
                          "file must be 0600)", f"{s['mode_files_checked']} / {s.get('loose_modes', 0)}",
                          cmd(s["files_mode_files_checked"])))
    for key, label in (("repeated_gets", "Repeated successful GETs"), ("labels_lost", "Labels lost"),
                       ("imported_lost", "Plays, playlist items or saved tracks of an earlier import lost"),
                       ("duplicate_pushes", "Duplicate pushes"), ("tracebacks", "Tracebacks"),
                       ("secret_leaks", "Secret leaks")):
        measured = [name for name, _, _ in SUITES if summary.get(name, {}).get(f"n_{key}")]
        if measured:
            total = sum(summary[name][key] for name in measured)
            cases_n = sum(summary[name][f"n_{key}"] for name in measured)
            files = sorted({f for name in measured for f in summary[name][f"files_{key}"]})
            rows.append(_line(label, f"{total} (measured in {cases_n} cases: {', '.join(measured)})", cmd(files)))
    failed = [case["test"] for case in cases if case["failed"]]
    missing = [name for name, _, _ in SUITES if name not in summary]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Reliability and security figures",
        "",
        f"Generated by `{soak}python benchmarks/reliability.py` on {stamp} ({seconds:.0f} s, pytest exit code {rc}).",
        "Every figure is what a test measured and then asserted on (pytest `record_property`); rerun the command in the",
        "last column to reproduce one. What each suite tries:",
        "",
    ]
    parts += [f"- **{name}** ({', '.join(f'`{x}`' for x in summary.get(name, {}).get('files') or fl)}): {what}"
              for name, fl, what in SUITES]
    parts += ["", "| Figure | Measured | Reproduce |", "|---|---|---|", *rows, ""]
    parts += ["## Cases", "", "| Suite | Case | Passed |", "|---|---|---|"]
    for case in cases:
        if case.get("suite") and not case["skipped"]:
            parts.append(f"| {case['suite']} | {case.get('case') or case['test'].split('::')[-1]} | "
                         f"{'no' if case['failed'] else 'yes'} |")
    parts.append("")
    if failed:
        parts += ["## Failed", "", *[f"- `{t}`" for t in failed], ""]
    if missing:
        parts += ["## Not measured", "", *[f"- {name}: no test case recorded this suite" for name in missing], ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "RELIABILITY.md")
    args = parser.parse_args(argv)
    files = [f for _, fl, _ in SUITES for f in fl if (ROOT / f).exists()]
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        rc, seconds = run_suites(files, junit)
        cases = read_cases(junit) if junit.exists() else []
    text = render(summarise(cases), cases, rc, seconds, os.environ.get("RELIABILITY_KILLS"))
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nwritten: {args.out}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
