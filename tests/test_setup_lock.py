"""requirements.lock (what scripts/setup.sh installs with --no-deps) agrees with
requirements.txt (the direct pins) and with the venv the tests run in."""
import re
import sysconfig
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (extras dropped, names normalised)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)", line)
        if m:
            out[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(3)
    return out


def test_lock_holds_every_direct_pin():
    lock, req = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements.txt")
    assert len(req) > 30 and len(lock) > len(req)
    wrong = {n: (v, lock.get(n)) for n, v in req.items() if lock.get(n) != v}
    assert not wrong, f"requirements.txt pin != requirements.lock (run setup.sh --relock): {wrong}"
    assert lock["torch"].split("+")[0] == "2.13.0" and lock["finn-plus"] == "1.6.1"
    assert "setuptools" in lock          # the editable install needs more than Python's 65.5


def test_venv_is_the_lock():
    lock = _pins(ROOT / "requirements.lock")
    # only the venv's site-packages: once setuptools is imported, its _vendor folder (own
    # copies of packaging, zipp, ...) is on sys.path too
    site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    have = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version
            for d in metadata.distributions(path=sorted(site))}
    wrong = {n: (v, have.get(n)) for n, v in lock.items() if have.get(n) != v}
    assert not wrong, f"installed != requirements.lock: {wrong}"
