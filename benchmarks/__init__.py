"""Benchmarks of keras_sig against iisignature, signax, pySigLib, signatory and keras-sig 1.0.2.

Run ``python -m benchmarks --help``; see benchmarks/README.md.
"""
