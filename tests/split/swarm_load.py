#!/usr/bin/env python3
"""Bounded load for tests/split/swarm_test.sh, on loopback only: GET /products/ID and POST /orders
through the stack's published entry, a few requests at a time, until STOP_FILE exists or MAX_SECONDS
have passed. Writes one JSON line per request to OUT: start and end (Unix time), kind, status (0 when
the request failed without an answer) and the error, if any; OUT.answered is made at the first answer.
  swarm_load.py PORT PRODUCT_ID TOKEN_FILE STOP_FILE MAX_SECONDS OUT"""
import http.client
import json
import os
import sys
import threading
import time

port, product, token_file, stop_file, max_seconds, out = sys.argv[1:7]
with open(token_file) as f:
    token = f.read().strip()
deadline = time.time() + float(max_seconds)
records = []
lock = threading.Lock()


def worker(kind):
    conn = None
    while time.time() < deadline and not os.path.exists(stop_file):
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
        start = time.time()
        status, error = 0, ""
        try:
            if kind == "get":
                conn.request("GET", "/products/%s" % product)
            else:
                body = json.dumps({"items": [{"product_id": int(product), "quantity": 1}]})
                conn.request("POST", "/orders", body=body, headers={
                    "Authorization": "Bearer " + token, "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            status = response.status
            if not os.path.exists(out + ".answered"):
                open(out + ".answered", "w").close()  # tells the test the load is on
        except Exception as e:  # an answer that never came counts as a failure
            error = "%s: %s" % (type(e).__name__, e)
            conn.close()
            conn = None
        with lock:
            records.append({"start": start, "end": time.time(), "kind": kind, "status": status, "error": error})
        time.sleep(0.01)  # bounded: at most ~100 requests/s per worker


threads = [threading.Thread(target=worker, args=(k,)) for k in ("get", "get", "order")]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(out, "w") as f:
    for r in records:
        f.write(json.dumps(r) + "\n")
