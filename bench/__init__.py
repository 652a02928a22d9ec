"""Benchmarks, run by hand or with `make bench` (not part of `make test`); see bench/README.md."""
