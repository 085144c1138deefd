"""Generic cocotb testbench for one streaming unit (loaded by cocotb inside the simulator).

Reads the case file named by $BIREAL_CASE (JSON, written by tests/rtl/runner.py):
  inputs:  {"in0_V": [word, ...], ...}   packed FINN words (ints), driven in order
  outputs: {"out0_V": [word, ...], ...}  expected words, compared exactly and in order
  stall_in / stall_out: probability that TVALID / TREADY is held low on a cycle
  seed, timeout_cycles
  tlast (optional):  {"out_V": [0/1, ...]}  expected TLAST of each word of the named outputs
  inputs_const (optional): {"frames": 3}    plain input ports, driven from reset on
  const_changes (optional): [[k, "frames", 1], ...]  set once k words of the first input
                                            stream have been accepted
Every input stream is driven by its own coroutine with random valid stalls; every output
stream is read with random ready stalls. Fails on the first word that differs (naming the
stream and index), on extra words, or when nothing moves for timeout_cycles.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


def _case():
    with open(os.environ["BIREAL_CASE"]) as f:
        return json.load(f)


async def _drive(dut, name, words, p_stall, rng, state, changes=()):
    """Offer words in order; TVALID is dropped at random (probability p_stall per cycle);
    `changes` [(k, port, value)] are applied at the first falling edge once k words are taken.

    Signals change on the falling edge; the handshake is sampled in ReadOnly of that same
    half cycle, i.e. exactly what the DUT sees at the next rising edge."""
    valid = getattr(dut, f"{name}_TVALID")
    data = getattr(dut, f"{name}_TDATA")
    ready = getattr(dut, f"{name}_TREADY")
    i = 0
    changes = sorted(changes, key=lambda c: c[0])
    while i < len(words):
        await FallingEdge(dut.ap_clk)
        while changes and changes[0][0] <= i:
            _, port, value = changes.pop(0)
            getattr(dut, port).value = value
        offer = rng.random() >= p_stall
        valid.value = int(offer)
        if offer:
            data.value = words[i]
        await ReadOnly()
        if offer and int(ready.value) == 1:
            i += 1
            state["moved"] = True
    await FallingEdge(dut.ap_clk)
    valid.value = 0


async def _collect(dut, name, expected, p_stall, rng, state, errors, tlast=None):
    """Take words with TREADY dropped at random; compare each with the expected word (and
    its TLAST bit with tlast[i], if given)."""
    last = getattr(dut, f"{name}_TLAST") if tlast is not None else None
    valid = getattr(dut, f"{name}_TVALID")
    data = getattr(dut, f"{name}_TDATA")
    ready = getattr(dut, f"{name}_TREADY")
    i = 0
    while i < len(expected):
        await FallingEdge(dut.ap_clk)
        take = rng.random() >= p_stall
        ready.value = int(take)
        await ReadOnly()
        if take and int(valid.value) == 1:
            got = int(data.value)
            if got != expected[i]:
                errors.append(f"{name} word {i}: got {got:#x}, expected {expected[i]:#x}")
                return
            if last is not None and int(last.value) != int(tlast[i]):
                errors.append(f"{name} word {i} of {len(expected)} ({got:#x}): TLAST "
                              f"{int(last.value)}, expected {int(tlast[i])}")
                return
            i += 1
            state["moved"] = True
    for _ in range(20):  # anything more is an error
        await FallingEdge(dut.ap_clk)
        ready.value = 1
        await ReadOnly()
        if int(valid.value) == 1:
            errors.append(f"{name}: extra word after the {len(expected)} expected ones")
            return


@cocotb.test()
async def run_case(dut):
    case = _case()
    rng = random.Random(case.get("seed", 1))
    cocotb.start_soon(Clock(dut.ap_clk, 10, unit="ns").start())
    for name in case["inputs"]:
        getattr(dut, f"{name}_TVALID").value = 0
    for name in case["outputs"]:
        getattr(dut, f"{name}_TREADY").value = 0
    for port, value in case.get("inputs_const", {}).items():
        getattr(dut, port).value = value
    dut.ap_rst_n.value = 0
    for _ in range(4):
        await RisingEdge(dut.ap_clk)
    await FallingEdge(dut.ap_clk)
    dut.ap_rst_n.value = 1
    state = {"moved": False}
    errors: list[str] = []
    changes = [tuple(c) for c in case.get("const_changes", [])]
    drivers = [
        cocotb.start_soon(_drive(dut, n, w, case["stall_in"], random.Random(rng.random()), state,
                                 changes if k == 0 else ()))
        for k, (n, w) in enumerate(case["inputs"].items())
    ]
    tlast = case.get("tlast", {})
    collectors = [
        cocotb.start_soon(
            _collect(dut, n, w, case["stall_out"], random.Random(rng.random()), state, errors,
                     tlast.get(n))
        )
        for n, w in case["outputs"].items()
    ]
    idle = 0
    limit = case.get("timeout_cycles", 2000)
    cycles = 0
    while not all(c.done() for c in collectors):
        await RisingEdge(dut.ap_clk)
        cycles += 1
        if errors:
            break
        if state["moved"]:
            state["moved"] = False
            idle = 0
        else:
            idle += 1
            assert idle < limit, f"no word moved for {limit} cycles (after {cycles} cycles): stalled"
    for d in drivers + collectors:
        if not d.done():
            d.cancel()
    assert not errors, "; ".join(errors)
    dut._log.info(f"case passed in {cycles} cycles")
