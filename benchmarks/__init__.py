"""Benchmarks: ``python -m benchmarks.run`` compares our engine with Yjs, pycrdt and Loro.

See docs/benchmarks.md.
"""
