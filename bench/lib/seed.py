#!/usr/bin/python3
"""Seeds a running shop layout through its public API, identically for every layout.

  seed.py --url http://127.0.0.1:PORT --products N --users M --tokens-out FILE
          --admin-email E --admin-password P [--connections C]

Creates N products (skus bench-000001.., stock 1e9 so orders never run out) and M users, signs
each user in and writes one access token per line to FILE. Keep-alive connections (http.client),
C worker threads per phase; products and users are seeded at the same time because users are
bound by argon2 hashing on the server. Stdlib only. Prints one JSON line with what it did.
"""

import argparse
import http.client
import json
import queue
import sys
import threading
import time
import urllib.parse

STOCK = 1_000_000_000


class Conn:
    """One keep-alive connection; reconnects once if the server closed it. Also used by
    bench/lib/events.py."""

    def __init__(self, url, timeout=30):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.c = None

    def call(self, method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.c.request(method, path, body=data, headers=headers)
                r = self.c.getresponse()
                payload = r.read()
                return r.status, payload
            except (http.client.HTTPException, ConnectionError, OSError):
                if self.c is not None:
                    self.c.close()
                self.c = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


def run_workers(n, url, jobs, fn, errors):
    q = queue.Queue()
    for j in jobs:
        q.put(j)

    def worker():
        conn = Conn(url)
        while not errors:
            try:
                j = q.get_nowait()
            except queue.Empty:
                return
            try:
                fn(conn, j)
            except Exception as e:  # noqa: BLE001 - reported and stops the seeding
                errors.append(f"{j}: {e}")
                return

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    return threads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--products", type=int, required=True)
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--tokens-out", required=True)
    ap.add_argument("--admin-email", required=True)
    ap.add_argument("--admin-password", required=True)
    ap.add_argument("--connections", type=int, default=4)
    a = ap.parse_args()

    start = time.monotonic()
    admin = Conn(a.url)
    status, body = admin.call("POST", "/auth/token", {"email": a.admin_email, "password": a.admin_password})
    if status != 200:
        sys.exit(f"seed: admin sign-in failed: {status} {body[:200]!r}")
    admin_token = json.loads(body)["access_token"]

    errors = []
    product_ids = []
    tokens = [None] * a.users
    lock = threading.Lock()

    def make_product(conn, i):
        status, body = conn.call("POST", "/products", {
            "sku": f"bench-{i:06d}", "name": f"Bench product {i:06d}",
            "price_cents": 100 + (i * 37) % 9900, "stock": STOCK}, admin_token)
        if status != 201:
            raise RuntimeError(f"POST /products: {status} {body[:200]!r}")
        with lock:
            product_ids.append(json.loads(body)["id"])

    def make_user(conn, i):
        email, password = f"bench-user-{i:05d}@bench.example", f"bench-password-{i:05d}"
        status, body = conn.call("POST", "/users", {"email": email, "password": password, "name": f"Bench user {i}"})
        if status != 201:
            raise RuntimeError(f"POST /users: {status} {body[:200]!r}")
        status, body = conn.call("POST", "/auth/token", {"email": email, "password": password})
        if status != 200:
            raise RuntimeError(f"POST /auth/token: {status} {body[:200]!r}")
        tokens[i - 1] = json.loads(body)["access_token"]

    threads = run_workers(a.connections, a.url, range(1, a.users + 1), make_user, errors)
    threads += run_workers(a.connections, a.url, range(1, a.products + 1), make_product, errors)
    for t in threads:
        t.join()
    if errors:
        sys.exit(f"seed: failed: {errors[0]}")
    if sorted(product_ids) != list(range(1, a.products + 1)):
        sys.exit("seed: product ids are not 1..N (was the data dir fresh?)")

    # A sample of what GET /products/{id} answers: its body size sizes nginx's static reference.
    status, body = admin.call("GET", f"/products/{a.products}")
    if status != 200:
        sys.exit(f"seed: GET /products/{a.products}: {status}")
    with open(a.tokens_out, "w") as f:
        f.write("\n".join(tokens) + "\n")
    print(json.dumps({"products": a.products, "users": a.users, "seconds": round(time.monotonic() - start, 2),
                      "product_body_bytes": len(body), "product_body": body.decode()}))


if __name__ == "__main__":
    main()
