"""Cycle-accurate simulation of the compiled accelerator (reads what hw/ wrote)."""
