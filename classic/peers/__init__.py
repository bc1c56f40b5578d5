"""Bindings to the peers we are measured against (VLFeat), for parity tests and benchmarks only.

Nothing in the pipeline depends on these; each binding reports clearly when its peer is missing.
"""
