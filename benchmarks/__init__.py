"""The benchmark suite behind `make bench`: local throughput, upload throughput, rate limit."""
