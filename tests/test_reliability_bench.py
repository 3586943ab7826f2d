"""benchmarks/reliability.py adds up what the suites recorded: checked on a tiny pytest run of its own."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reliability.py"

FAKE_SUITE = '''
import pytest

@pytest.mark.parametrize("n", [1, 2, 3])
def test_fault(record_property, n):
    record_property("suite", "fault")
    record_property("case", f"fault {n}")
    record_property("survived", 1 if n != 3 else 0)
    record_property("repeated_gets", 2 if n == 2 else 0)
    record_property("tracebacks", 0)
    assert n != 3

def test_crash(record_property):
    record_property("suite", "crash")
    record_property("kills", 31)
    record_property("recovered", 31)
    record_property("labels_lost", 0)

def test_fault_without_the_figure(record_property):
    record_property("suite", "fault")        # in the suite, but measured no survival: not in that ratio
    record_property("tracebacks", 0)

def test_unrecorded():
    pass
'''


@pytest.fixture(scope="module")
def reliability():
    spec = importlib.util.spec_from_file_location("reliability_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["reliability_bench"] = module
    spec.loader.exec_module(module)
    return module


def test_figures_are_the_recorded_measurements(reliability, tmp_path):
    (tmp_path / "test_fake.py").write_text(FAKE_SUITE)
    junit = tmp_path / "junit.xml"
    subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                     "-o", "junit_family=xunit1", str(tmp_path / "test_fake.py")], cwd=tmp_path)
    cases = reliability.read_cases(junit)
    summary = reliability.summarise(cases)
    assert summary["fault"]["cases"] == 4 and summary["fault"]["passed"] == 3
    assert summary["fault"]["survived"] == 2 and summary["fault"]["repeated_gets"] == 2
    assert summary["crash"]["kills"] == 31 and summary["crash"]["recovered"] == 31
    assert set(summary) == {"fault", "crash"}          # the unrecorded test belongs to no suite
    text = reliability.render(summary, cases, 1, 1.0, None)
    assert "| Faults tried / survived (documented exit code, one-line cause, nothing lost, next run completes) | 3 / 2 |" in text
    assert "| Kills tried / recovered (next run completes, integrity ok, invariants hold) | 31 / 31 |" in text
    assert "| Repeated successful GETs | 2 (measured in 3 cases: fault) |" in text
    assert "| Tracebacks | 0 (measured in 4 cases: fault) | `python -m pytest test_fake.py` |" in text
    assert "## Failed" in text and "test_fault[3]" in text   # a failing case is listed, not hidden
    assert "bad_input: no test case recorded this suite" in text
