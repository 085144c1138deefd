"""Build one RTL unit with Verilator and run the generic cocotb testbench (tb_axis.py) on it.

    run_unit(top, sources, params, inputs, outputs, build_dir, stall=0.3)

`inputs` / `outputs` map interface names ("in0_V", "out0_V", ...) to lists of packed words
(FINN packing: element i of a word at bits [i*W, (i+1)*W), see pack_words). The expected
words come from the unit's numpy golden model; the testbench drives the inputs with random
TVALID gaps and takes the outputs with random TREADY gaps (probability `stall` per cycle).
Raises AssertionError naming the first differing word when the RTL and golden disagree.

Optional: `tlast` maps output names to the expected TLAST bit of each word (checked only
for the outputs named); `inputs_const` maps plain input ports (e.g. "frames") to a value
driven from reset on; `const_changes` is a list of (after_words, port, value): the port
changes once `after_words` words of the first input stream have been accepted.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


from sim.packing import pack_words, unpack_words  # noqa: F401 (re-exported for tests)
from sim.tools import use_verilator

HERE = Path(__file__).resolve().parent


def run_unit(
    top: str,
    sources: list[Path | str],
    params: dict,
    inputs: dict[str, list[int]],
    outputs: dict[str, list[int]],
    build_dir: Path,
    stall: float = 0.3,
    seed: int = 1,
    timeout_cycles: int = 5000,
    tlast: dict[str, list[int]] | None = None,
    inputs_const: dict[str, int] | None = None,
    const_changes: list[tuple[int, str, int]] | None = None,
    reruns: list[tuple[float, int]] | None = None,
) -> None:
    """Build `top` (with `params`) and run tb_axis on the given words; assert it passed.
    `reruns` [(stall, seed), ...]: run the same build again with these (test.log is the
    last run's)."""
    from cocotb_tools.runner import get_runner

    use_verilator()
    # cocotb's runner hands the simulator this process's sys.path as PYTHONPATH
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    case = build_dir / "case.json"

    def write_case(stall, seed):
        case.write_text(
            json.dumps(
                {
                    "inputs": inputs,
                    "outputs": outputs,
                    "stall_in": stall,
                    "stall_out": stall,
                    "seed": seed,
                    "timeout_cycles": timeout_cycles,
                    "tlast": tlast or {},
                    "inputs_const": inputs_const or {},
                    "const_changes": [list(c) for c in const_changes or []],
                }
            )
        )

    runner = get_runner("verilator")
    runner.build(
        sources=[str(s) for s in sources],
        hdl_toplevel=top,
        parameters=params,
        build_dir=str(build_dir),
        build_args=["-Wno-fatal", "-Wno-WIDTH", "--x-assign", "unique", "--x-initial", "unique"],
        always=True,
        log_file=str(build_dir / "build.log"),
    )
    for st, sd in [(stall, seed), *(reruns or [])]:
        write_case(st, sd)
        _test(runner, top, build_dir, case, sd)


def _test(runner, top, build_dir: Path, case: Path, seed: int) -> None:
    env = {"BIREAL_CASE": str(case), "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    # under pytest, cocotb's runner.test calls sys.exit(1) on a failure before we could read
    # the results: hide PYTEST_CURRENT_TEST so the failure is reported below, by name
    hidden = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        results = runner.test(
            test_module="tb_axis",
            hdl_toplevel=top,
            build_dir=str(build_dir),
            test_dir=str(build_dir),
            extra_env=env,
            seed=seed,
            log_file=str(build_dir / "test.log"),
        )
    finally:
        if hidden is not None:
            os.environ["PYTEST_CURRENT_TEST"] = hidden
    root = ET.parse(results).getroot()
    fails = [f for f in root.iter("failure")] + [e for e in root.iter("error")]
    cases = list(root.iter("testcase"))
    if not cases or fails:
        log = (build_dir / "test.log").read_text()[-3000:] if (build_dir / "test.log").exists() else ""
        msg = fails[0].get("message", "") if fails else "no test case ran"
        raise AssertionError(f"{top}: RTL differs from the golden model or stalled: {msg}\n{log}")
