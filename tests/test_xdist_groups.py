"""The xdist grouping of conftest.py: tests sharing an expensive session fixture (which they
write into) share one worker; everything else is grouped by its file."""
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
