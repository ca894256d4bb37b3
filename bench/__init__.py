"""Benchmarks (not tests): real processes, measured figures, peers side by side.

    python -m bench.apiserver --quick      # the apiserver: creates, updates, watch fan-out
"""
