#!/usr/bin/env python3
"""Checks the running `shop` with tools nobody here wrote:

- PyJWT (a standard JWT library) accepts our tokens, verified with the key from our JWKS;
- promtool (Prometheus) finds no problem in /metrics;
- every request log line on stdout is one JSON object with the documented fields.

Usage: standard_tools_test.py PATH_TO_SHOP_BINARY
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

SHOP = sys.argv.pop(1) if len(sys.argv) > 1 else os.environ.get("SHOP_BINARY", "build/bin/shop")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="shop-tools-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.dir, "stdout.log")
        env = dict(os.environ, SHOP_ADMIN_EMAIL="admin@example.com", SHOP_ADMIN_PASSWORD="admin-password-1")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [SHOP, "--port", str(self.port), "--data-dir", os.path.join(self.dir, "data"), "--threads", "2"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.request("GET", "/health/ready")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("shop did not become ready:\n" + open(self.log_path).read())
            time.sleep(0.05)  # polling readiness, not synchronising on timing

    def request(self, method, path, body=None, token=None, headers=None):
        req = urllib.request.Request(self.base + path, method=method)
        if body is not None:
            req.data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self.log.close()
        return code


class StandardTools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        status, body, _ = cls.server.request("POST", "/users",
                                             {"email": "tools@example.com", "password": "password-123", "name": "T"})
        assert status == 201, body
        status, body, _ = cls.server.request("POST", "/auth/token",
                                             {"email": "tools@example.com", "password": "password-123"})
        assert status == 200, body
        cls.token = json.loads(body)["access_token"]
        cls.user_id = json.loads(cls.server.request("GET", "/users/me", token=cls.token)[1])["id"]

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        shutil.rmtree(cls.server.dir, ignore_errors=True)
        assert code == 0, f"shop exited with {code} on SIGTERM"

    def test_pyjwt_accepts_our_token_with_our_jwks(self):
        import jwt
        status, body, headers = self.server.request("GET", "/.well-known/jwks.json")
        self.assertEqual(status, 200)
        jwks = json.loads(body)
        self.assertEqual(len(jwks["keys"]), 1)
        jwk = jwks["keys"][0]
        self.assertEqual((jwk["kty"], jwk["crv"], jwk["alg"]), ("OKP", "Ed25519", "EdDSA"))
        self.assertEqual(jwt.get_unverified_header(self.token)["kid"], jwk["kid"])
        key = jwt.PyJWK(jwk).key
        claims = jwt.decode(self.token, key, algorithms=["EdDSA"], issuer="shop",
                            options={"require": ["exp", "iat", "sub", "iss"]})
        self.assertEqual(claims["sub"], str(self.user_id))
        self.assertEqual(claims["role"], "customer")
        self.assertGreater(claims["exp"], claims["iat"])
        # And PyJWT rejects a token we did not sign with that key.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        forged = jwt.encode({"sub": "1", "role": "admin", "iss": "shop", "iat": 0, "exp": 2**31},
                            Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": jwk["kid"]})
        with self.assertRaises(jwt.InvalidSignatureError):
            jwt.decode(forged, key, algorithms=["EdDSA"])
        # ... and so do we.
        self.assertEqual(self.server.request("GET", "/users/me", token=forged)[0], 401)

    def test_promtool_finds_no_problem_in_metrics(self):
        self.server.request("GET", "/products")
        self.server.request("GET", "/products/999999")
        status, body, headers = self.server.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        self.assertIn('shop_http_requests_total{method="GET",route="/products/{id}",status="404"}', body)
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is not installed")
        result = subprocess.run([promtool, "check", "metrics"], input=body.encode(), capture_output=True)
        self.assertEqual(result.returncode, 0, result.stdout.decode() + result.stderr.decode())
        self.assertEqual(result.stdout.decode().strip() + result.stderr.decode().strip(), "")

    def test_http_client_reads_the_413_for_a_body_it_is_still_sending(self):
        # The plain http.client sends the whole body before it reads: a server that answers 413 and
        # closes at once resets the connection under it (broken pipe). RFC 9112 9.6: close gracefully.
        import http.client
        for size in (1024 * 1024 + 1, 3 * 1024 * 1024):
            with self.subTest(size=size):
                conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=20)
                conn.request("POST", "/users", body=b" " * size, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                self.assertEqual(response.status, 413)
                self.assertEqual(json.loads(response.read())["code"], "payload_too_large")
                conn.close()

    def test_request_logs_are_json_lines_with_the_documented_fields(self):
        self.server.request("GET", "/products", headers={"X-Request-Id": "log-check-1"})
        # Lines are flushed by each server thread at least every 200 ms; wait for ours to appear.
        deadline = time.monotonic() + 5
        found = None
        while found is None and time.monotonic() < deadline:
            with open(self.server.log_path) as f:
                for line in f:
                    entry = json.loads(line)  # every line must be one JSON object
                    self.assertIsInstance(entry, dict)
                    if entry.get("request_id") == "log-check-1":
                        found = entry
            if found is None:
                time.sleep(0.05)
        self.assertIsNotNone(found, "no log line for the request")
        for field in ("time", "level", "service", "request_id", "method", "route", "status", "duration_ms"):
            self.assertIn(field, found)
        self.assertEqual((found["service"], found["method"], found["route"], found["status"]),
                         ("shop", "GET", "/products", 200))


if __name__ == "__main__":
    unittest.main(verbosity=2)
