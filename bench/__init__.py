"""Benchmarks (`make bench`): every figure a median of several runs, quoted against a baseline from the same run."""
