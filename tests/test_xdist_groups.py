"""The xdist grouping of conftest.py: tests sharing an expensive session fixture (which they
write into) share one worker; everything else is grouped by its file."""
from pathlib import Path

from conftest import xdist_group_of


def test_shared_compile_users_share_a_group():
    assert xdist_group_of({"compiled_tiny", "tmp_path"}, "tests.test_sim") == "tiny_trained"
    # trained_tiny alone (test_build) goes with compiled_tiny's users: compiled_tiny needs it
    assert xdist_group_of({"trained_tiny"}, "tests.test_build") == "tiny_trained"
    assert xdist_group_of({"compiled_cifar_zcu104"}, "tests.test_vivado") == "cifar_zcu104"
    # the fixture closure of hw_model / folded contains tiny_hw
    assert xdist_group_of({"hw_model", "tiny_hw"}, "tests.test_estimates") == "tiny_hw"
    # first match wins: a test using both compiled_tiny and tiny_hw goes with compiled_tiny
    assert xdist_group_of({"tiny_hw", "compiled_tiny"}, "tests.test_x") == "tiny_trained"


def test_other_tests_group_by_file():
    assert xdist_group_of({"tmp_path"}, "tests.test_rtl_fp32") == "tests.test_rtl_fp32"
    assert xdist_group_of(set(), "tests.test_affine") == "tests.test_affine"


def test_first_groups_reach_the_workers_first():
    """xdist's loadgroup reorders groups by test count unless told not to: the 3-test
    bireal-cifar group then started last and ran alone (20 min 05 s at 161 % CPU). Run the
    scheduler on a collection in conftest's order and check the first group each worker gets."""
    from types import SimpleNamespace

    from xdist.scheduler.loadgroup import LoadGroupScheduling

    from conftest import FIRST_GROUPS
    ids = ([f"tests/test_a.py::t{i}@tests.test_a" for i in range(9)]
           + [f"tests/test_b.py::t{i}@tests.test_b" for i in range(5)])
    ids = [f"tests/test_c.py::t{i}@{FIRST_GROUPS[0]}" for i in range(3)] + \
        [f"tests/test_d.py::t{i}@{FIRST_GROUPS[1]}" for i in range(2)] + ids
    args = (Path(__file__).resolve().parents[1] / "scripts" / "test.sh").read_text()
    par = [ln for ln in args.splitlines() if "par=(-n" in ln]       # the xdist arguments
    assert len(par) == 1, par
    reorder = "--no-loadscope-reorder" not in par[0]
    sent = {}

    class Node:
        def __init__(self, name):
            self.gateway = SimpleNamespace(id=name)
            self.shutting_down = False

        def send_runtest_some(self, idx):
            sent.setdefault(self.gateway.id, []).extend(ids[i] for i in idx)

        def shutdown(self):
            pass

    cfg = SimpleNamespace(option=SimpleNamespace(loadscopereorder=reorder, maxschedchunk=None),
                          getvalue=lambda name: ["2*popen"] if name == "tx" else None)
    sched = LoadGroupScheduling(cfg)
    nodes = [Node(f"gw{i}") for i in range(2)]
    for n in nodes:
        sched.add_node(n)
        sched.add_node_collection(n, ids)
    sched.schedule()
    firsts = sorted(sent[n.gateway.id][0].rsplit("@", 1)[1] for n in nodes)
    assert firsts == sorted(FIRST_GROUPS[:2]), sent
