"""The benchmark suite behind `make bench`: start-up, local and upload throughput, rate limit."""
