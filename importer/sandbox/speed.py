"""`python -m importer.sandbox.speed`: how many 10-lead POST /leads per second the sandbox takes."""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import requests

from importer.sandbox.config import SandboxConfig
from importer.sandbox.server import serve_in_thread


def ten_leads(seed: int) -> dict[str, Any]:
    """A valid 10-lead `POST /leads` body, distinct per seed."""
    return {
        "data": [
            {
                "full_name": f"Client {seed} {n}",
                "phone": f"06{seed % 10_000:04d}{n:04d}",
                "city": "Casablanca",
                "area": "Maarif",
                "address": "12 Rue des Fleurs",
                "products": [{"sku": "SKU-001", "quantity": 1, "total": 199}],
                "data": [{"key": "import_id", "value": f"bench-{seed}-{n}"}],
            }
            for n in range(10)
        ]
    }


def measure_posts(requests_total: int = 1000, threads: int = 2) -> float:
    """POSTs per second against an in-memory sandbox, from `threads` keep-alive sessions."""
    config = SandboxConfig(tokens=("speed",), log_requests=False)
    with serve_in_thread(config) as running:
        per_thread = requests_total // threads
        failures: list[int] = []

        def post_many(offset: int) -> None:
            session = requests.Session()
            session.headers["Authorization"] = "Bearer speed"
            for n in range(per_thread):
                answer = session.post(
                    f"{running.url}/leads", json=ten_leads(offset + n), timeout=10
                )
                if answer.status_code != 201:
                    failures.append(answer.status_code)

        workers = [
            threading.Thread(target=post_many, args=(i * per_thread,)) for i in range(threads)
        ]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        took = time.perf_counter() - started
        if failures:
            raise RuntimeError(f"{len(failures)} POSTs failed: {failures[:5]}")
        stored = running.sandbox.store.count("speed")
        assert stored == per_thread * threads * 10, stored
    return per_thread * threads / took


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m importer.sandbox.speed")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rate = measure_posts(args.requests, args.threads)
    print(f"{rate:.0f} POST /leads (10 leads each) per second, {args.threads} client thread(s)")


if __name__ == "__main__":
    main()
