"""The GPU kit: tests and benchmarks for one CUDA machine without network (``python -m benchmarks.gpu``)."""
