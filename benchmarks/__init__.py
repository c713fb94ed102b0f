"""The benchmark suite of instabase_async: `python -m benchmarks` (see benchmarks/README.md)."""
