#!/usr/bin/env python3
"""Writes the seed corpora (corpus/<harness>/<name>) and dictionaries (dict/<harness>.dict) of the
libFuzzer harnesses in this directory. The files are committed; run this after editing a seed here:

    tests/fuzz/make_seeds.py

Each seed is small: a large attack (megabytes of trailer, a 1 MiB body) is written in a shortened
form, or together with the small limits the harnesses offer (see LimitsFrom in common.h), and
libFuzzer grows it. A seed's first bytes are the harness's control bytes (see each harness's header
comment): for request/chunked/response, byte 0 picks the read sizes (0: whole reads, 1: one byte at
a time, 2/3: varied) and byte 1 the limits (0: production, >= 0x80: small); for token, byte 0 is
the mode. The corpora are removed and rewritten: what is here, plus the reproducers of past findings
kept in regressions/<harness>/ (copied as regression-<name>), is what they hold.
"""

import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))

WHOLE, BYTEWISE, SMALL_READS, VARIED = 0, 1, 2, 3
PRODUCTION = 0
SMALL = 0x80 | (7 << 2) | (1 << 5)  # headers 256 bytes, body 448 bytes, framing excess 32 bytes
SMALL_512 = 0x80 | 1 | (7 << 2) | (1 << 5)  # headers 512 bytes (room for a bearer token), body 448, excess 32


def crlf(*lines):
    return "".join(line + "\r\n" for line in lines)


def request(method, target, headers=(), body=None, version="HTTP/1.1", length=True):
    head = [f"{method} {target} {version}", "Host: shop"] + list(headers)
    if body is not None and length:
        head.append(f"Content-Length: {len(body.encode('utf-8', 'surrogateescape'))}")
    return crlf(*head) + "\r\n" + (body or "")


def chunked(body, size, ext=""):
    out = ""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += f"{len(part):x}{ext}\r\n{part}\r\n"
    return out


JSON = "Content-Type: application/json"
USER = "Authorization: Bearer $USER_TOKEN"
ADMIN = "Authorization: Bearer $ADMIN_TOKEN"
TE = "Transfer-Encoding: chunked"

NEW_USER = '{"email":"ann@example.com","password":"correct-horse","name":"Ann"}'
CREDENTIALS = '{"email":"ann@example.com","password":"correct-horse"}'
NEW_PRODUCT = '{"sku":"mug-1","name":"Mug","price_cents":1200,"stock":10}'
PATCH = '{"name":"Cup","price_cents":900}'
NEW_ORDER = '{"items":[{"product_id":1,"quantity":2}]}'

ORDERS_REQUEST = request("POST", "/orders", [JSON, USER, "Idempotency-Key: k1"], NEW_ORDER)


def request_seeds():
    s = {}
    # Ordinary requests to every route.
    s["health-live"] = request("GET", "/health/live")
    s["health-ready"] = request("GET", "/health/ready", ["Api-Version: 1", "X-Request-Id: abc-123"])
    s["metrics"] = request("GET", "/metrics")
    s["post-users"] = request("POST", "/users", [JSON], NEW_USER)
    s["post-auth-token"] = request("POST", "/auth/token", [JSON], CREDENTIALS)
    s["get-users-me"] = request("GET", "/users/me", [USER])
    s["get-user"] = request("GET", "/users/42", [USER])
    s["get-user-other"] = request("GET", "/users/7", [USER, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
    s["jwks"] = request("GET", "/.well-known/jwks.json")
    s["list-products"] = request("GET", "/products?limit=2&after=1")
    s["get-product"] = request("GET", "/products/1")
    s["get-product-bad-id"] = request("GET", "/products/01")
    s["post-products"] = request("POST", "/products", [JSON, ADMIN], NEW_PRODUCT)
    s["post-products-customer"] = request("POST", "/products", [JSON, USER], NEW_PRODUCT)
    s["patch-product"] = request("PATCH", "/products/5", [JSON, ADMIN], PATCH)
    s["post-orders"] = ORDERS_REQUEST
    s["list-orders"] = request("GET", "/orders?limit=1", [USER])
    s["get-order"] = request("GET", "/orders/1", [USER])
    s["cancel-order"] = request("POST", "/orders/1/cancel", [USER])
    s["method-not-allowed"] = request("DELETE", "/products/1", [ADMIN])
    s["not-found"] = request("GET", "/nope/../users")
    s["api-version-2"] = request("GET", "/products", ["Api-Version: 2"])
    s["wrong-media-type"] = request("POST", "/users", ["Content-Type: text/plain"], NEW_USER)
    s["malformed-json"] = request("POST", "/users", [JSON], '{"email":')
    s["expect-continue"] = request("POST", "/auth/token", [JSON, "Expect: 100-continue"], CREDENTIALS)
    s["http10-keep-alive"] = request("GET", "/products/1", ["Connection: keep-alive"], version="HTTP/1.0") + request("GET", "/health/live")
    s["connection-close"] = request("GET", "/products/1", ["Connection: close"]) + request("GET", "/health/live")
    s["chunked-post-orders"] = request("POST", "/orders", [JSON, USER, TE], chunked(NEW_ORDER, 7) + "0\r\n\r\n", length=False)
    # Pipelined requests on one connection.
    s["pipelined"] = (request("GET", "/health/live") + request("POST", "/users", [JSON], NEW_USER) +
                      request("GET", "/users/me", [USER]))
    # (1) Smuggling: Transfer-Encoding gzip, no Content-Length, a whole POST /orders as the body.
    s["smuggle-te-gzip"] = request("POST", "/products", [JSON, "Transfer-Encoding: gzip"], ORDERS_REQUEST, length=False)
    s["smuggle-te-gzip-chunked"] = request("POST", "/products", [JSON, "Transfer-Encoding: gzip, chunked"], chunked(NEW_PRODUCT, 64) + "0\r\n\r\n" + ORDERS_REQUEST, length=False)
    s["smuggle-te-chunked-gzip"] = request("POST", "/products", [JSON, "Transfer-Encoding: chunked", "Transfer-Encoding: gzip"], ORDERS_REQUEST, length=False)
    s["smuggle-cl-te"] = request("POST", "/products", [JSON, "Content-Length: 4", TE], "0\r\n\r\n" + ORDERS_REQUEST, length=False)
    s["smuggle-te-cl"] = request("POST", "/products", [JSON, TE, "Content-Length: 100"], "0\r\n\r\n" + ORDERS_REQUEST, length=False)
    s["smuggle-te-space"] = request("POST", "/products", [JSON, "Transfer-Encoding : chunked"], "0\r\n\r\n" + ORDERS_REQUEST, length=False)
    s["smuggle-te-xchunked"] = request("POST", "/products", [JSON, "Transfer-Encoding: xchunked"], "0\r\n\r\n" + ORDERS_REQUEST, length=False)
    s["http10-te"] = request("POST", "/products", [JSON, TE], "0\r\n\r\n" + ORDERS_REQUEST, version="HTTP/1.0", length=False)
    # Duplicate Content-Length, equal and different; a list.
    s["dup-cl-equal"] = request("POST", "/users", [JSON, "Content-Length: 2", "Content-Length: 2"], "{}", length=False)
    s["dup-cl-differ"] = request("POST", "/users", [JSON, "Content-Length: 2", "Content-Length: 3"], "{} ", length=False)
    s["cl-list"] = request("POST", "/users", [JSON, "Content-Length: 2, 2"], "{}" + request("GET", "/health/live"), length=False)
    s["cl-plus"] = request("POST", "/users", [JSON, "Content-Length: +2"], "{}", length=False)
    # Bare LF line endings; obs-fold.
    s["bare-lf"] = "GET /health/live HTTP/1.1\nHost: shop\n\n"
    s["bare-lf-chunk"] = request("POST", "/orders", [JSON, USER, TE], "2\n{}\n0\n\n", length=False)
    s["obs-fold"] = "GET /users/me HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer\r\n $USER_TOKEN\r\n\r\n"
    # (2) A chunk-size line with a huge extension and no CRLF (shortened; small limits make it too long).
    s["chunk-ext-no-crlf"] = request("POST", "/orders", [JSON, USER, TE], "1;e=" + "a" * 2000, length=False)
    # 54 bytes of body as 54 chunks, each with a long extension.
    body54 = NEW_ORDER + "            "
    s["chunks-54-long-ext"] = request("POST", "/orders", [JSON, USER, TE], chunked(body54, 1, ";e=" + "a" * 300) + "0\r\n\r\n", length=False)
    s["chunks-54-ext"] = request("POST", "/orders", [JSON, USER, TE], chunked(body54, 1, ";e=" + "a" * 30) + "0\r\n\r\n", length=False)
    # (3) GET /users/me, chunked, Authorization only in the trailer; a large trailer section.
    s["trailer-auth"] = request("GET", "/users/me", [TE], "0\r\n" + USER + "\r\n\r\n", length=False)
    s["trailer-large"] = request("GET", "/users/me", [TE, USER], "0\r\n" + "".join(f"X-T{i}: {'v' * 90}\r\n" for i in range(40)) + "\r\n", length=False)
    s["trailer-connection-close"] = request("GET", "/users/me", [TE, USER], "0\r\nConnection: close\r\n\r\n", length=False) + request("GET", "/health/live")
    # (4) POST /auth/token with (here, kilobytes of) trailer fields.
    s["auth-token-trailers"] = request("POST", "/auth/token", [JSON, TE], chunked(CREDENTIALS, 16) + "0\r\n" + "".join(f"X-Pad-{i}: {'p' * 200}\r\n" for i in range(20)) + "\r\n", length=False)
    # (5) A Content-Length just over 1 MiB (the body need not follow: the answer comes first).
    s["cl-over-1mib"] = request("POST", "/users", [JSON, "Content-Length: 1048577"], NEW_USER, length=False)
    s["cl-1mib"] = request("POST", "/users", [JSON, "Content-Length: 1048576"], NEW_USER, length=False)
    s["cl-huge"] = request("POST", "/users", [JSON, "Content-Length: 99999999999999999999999"], NEW_USER, length=False)
    s["long-header"] = request("GET", "/products", ["X-Long: " + "h" * 1200])

    out = {}
    for name, wire in s.items():
        out[name] = bytes([WHOLE, PRODUCTION]) + wire.encode("utf-8", "surrogateescape")
    # Some again with other read sizes and the small limits.
    for name in ["post-orders", "pipelined", "chunked-post-orders", "trailer-auth", "chunks-54-ext", "obs-fold"]:
        out[name + "-bytewise"] = bytes([BYTEWISE, PRODUCTION]) + s[name].encode()
    for name in ["pipelined", "chunks-54-long-ext", "auth-token-trailers", "smuggle-te-gzip-chunked"]:
        out[name + "-varied"] = bytes([VARIED, PRODUCTION]) + s[name].encode()
    for name in ["chunk-ext-no-crlf", "chunks-54-ext", "trailer-large", "auth-token-trailers", "post-users",
                 "long-header", "chunked-post-orders"]:
        out[name + "-small-limits"] = bytes([SMALL_READS, SMALL_512]) + s[name].encode()
    return out


def chunked_seeds():
    s = {}
    s["one-chunk"] = "5\r\nhello\r\n0\r\n\r\n"
    s["json-chunks"] = chunked(NEW_ORDER, 7) + "0\r\n\r\n"
    s["extensions"] = "3;a=b;c=\"d e\\\"f\"\r\nabc\r\n0;last\r\n\r\n"
    s["extension-bws"] = "3 ; a = b\r\nabc\r\n0\r\n\r\n"
    s["extension-bad"] = "3;=b\r\nabc\r\n0\r\n\r\n"
    s["extension-quoted-crlf"] = "3;a=\"x\r\n\"\r\nabc\r\n0\r\n\r\n"
    s["hex-upper-leading-zeros"] = "000A\r\n0123456789\r\n00\r\n\r\n"
    s["size-overflow"] = "1ffffffffffffffff\r\nabc\r\n0\r\n\r\n"
    s["size-huge"] = "ffffffffffffffff\r\nabc"
    s["size-negative"] = "-1\r\na\r\n0\r\n\r\n"
    s["size-space"] = "5 \r\nhello\r\n0\r\n\r\n"
    s["no-crlf-after-data"] = "5\r\nhelloX\r\n0\r\n\r\n"
    s["bare-lf"] = "5\nhello\n0\n\n"
    s["bare-cr"] = "5\rhello\r0\r\r"
    s["lf-in-extension"] = "1;e=a\nb\r\nx\r\n0\r\n\r\n"
    s["lf-in-quoted-extension"] = "1;e=\"a\nb\"\r\nx\r\n0\r\n\r\n"
    s["trailers"] = "0\r\nAuthorization: Bearer abc\r\nX-A: b\r\n\r\n"
    s["trailer-obs-fold"] = "0\r\nX-A: b\r\n c\r\n\r\n"
    s["trailer-space-before-colon"] = "0\r\nX-A : b\r\n\r\n"
    s["trailer-no-colon"] = "0\r\nX-A b\r\n\r\n"
    s["trailer-content-length"] = "0\r\nContent-Length: 5\r\n\r\nhello"
    s["trailer-transfer-encoding"] = "0\r\nTransfer-Encoding: chunked\r\n\r\n"
    s["trailer-connection"] = "0\r\nConnection: close\r\n\r\n"
    s["trailer-large"] = "0\r\n" + "".join(f"X-T{i}: {'v' * 90}\r\n" for i in range(40)) + "\r\n"
    s["then-request"] = "0\r\n\r\nGET /health/live HTTP/1.1\r\nHost: shop\r\n\r\n"
    s["then-garbage"] = "2\r\n{}\r\n0\r\n\r\n\x00\xff"
    s["ext-no-crlf"] = "1;e=" + "a" * 1500
    body54 = NEW_ORDER + "            "
    s["54-chunks-ext"] = chunked(body54, 1, ";e=" + "a" * 30) + "0\r\n\r\n"
    s["54-chunks-long-ext"] = chunked(body54, 1, ";e=" + "a" * 300) + "0\r\n\r\n"
    s["big-chunk-then-ext"] = "1;" + "e" * 600 + "\r\nx\r\n" + "200\r\n" + "y" * 512 + "\r\n0\r\n\r\n"
    s["empty"] = ""
    s["just-last"] = "0\r\n\r\n"
    out = {}
    for name, body in s.items():
        out[name] = bytes([WHOLE, PRODUCTION]) + body.encode("latin-1")
    for name in ["json-chunks", "extensions", "trailers", "then-request", "54-chunks-ext"]:
        out[name + "-bytewise"] = bytes([BYTEWISE, PRODUCTION]) + s[name].encode("latin-1")
    for name in ["json-chunks", "ext-no-crlf", "54-chunks-ext", "trailer-large", "big-chunk-then-ext"]:
        out[name + "-small-limits"] = bytes([VARIED, SMALL]) + s[name].encode("latin-1")
    return out


def json_seeds():
    s = {
        "new-user": NEW_USER,
        "credentials": CREDENTIALS,
        "new-product": NEW_PRODUCT,
        "patch": PATCH,
        "patch-sku": '{"sku":"x"}',
        "new-order": NEW_ORDER,
        "new-order-two-lines": '{"items":[{"product_id":1,"quantity":2},{"product_id":3,"quantity":1}]}',
        "new-order-bad-line": '{"items":[1,{"product_id":1}]}',
        "product": '{"id":1,"sku":"mug-1","name":"Mug","price_cents":1200,"stock":10,"created_at":"2024-01-01T00:00:00Z"}',
        "page": '{"items":[{"id":1,"sku":"a","name":"A","price_cents":1,"stock":1,"created_at":"t"}],"next_after":1}',
        "page-last": '{"items":[],"next_after":null}',
        "reserve": '{"order_ref":"o-1","lines":[{"product_id":1,"quantity":2}]}',
        "reserved": '{"lines":[{"product_id":1,"quantity":2,"unit_price_cents":100}]}',
        "release": '{"order_ref":"o-1"}',
        "released": '{"order_ref":"o-1","released":true}',
        "problem": '{"type":"about:blank","title":"Conflict","status":409,"detail":"sold out","code":"insufficient_stock"}',
        "user": '{"id":7,"email":"ann@example.com","name":"Ann","role":"customer","created_at":"2024-01-01T00:00:00Z"}',
        "access-token": '{"access_token":"abc","token_type":"bearer","expires_in":3600}',
        "unknown-field": '{"email":"a@b.c","password":"p","name":"n","admin":true}',
        "duplicate-keys": '{"sku":"a","sku":"b","name":"x","price_cents":1,"stock":1}',
        "duplicate-keys-order": '{"items":[],"items":[{"product_id":1,"quantity":1}]}',
        "number-1e400": '{"sku":"a","name":"b","price_cents":1e400,"stock":1}',
        "number-2-64": '{"sku":"a","name":"b","price_cents":18446744073709551616,"stock":1}',
        "number-2-64-minus-1": '{"sku":"a","name":"b","price_cents":18446744073709551615,"stock":1}',
        "number-2-63": '{"items":[{"product_id":9223372036854775808,"quantity":1}]}',
        "number-min-int64": '{"items":[{"product_id":-9223372036854775808,"quantity":-0}]}',
        "number-float": '{"name":"x","price_cents":1.0,"stock":1E2}',
        "escapes": '{"email":"\\u0041\\u00e9\\ud83d\\ude00\\n\\"\\\\","password":"p","name":"\\u0000"}',
        "lone-surrogate": '{"sku":"\\ud800","name":"\\udc00x","price_cents":1,"stock":1}',
        "key-needing-escape": '{"\\"}\\u0001\\ud83d\\ude00":1}',
        "empty-object": "{}",
        "empty": "",
        "null": "null",
        "array": "[]",
        "string": '"x"',
        "trailing-garbage": '{} x',
        "two-objects": '{}{}',
        "comment": '{/*c*/"name":"x"}',
        "whitespace": ' \t\r\n{ "name" : "x" } \n',
        "deep-31": "[" * 31 + "]" * 31,
        "deep-32-object": '{"a":' * 32 + "1" + "}" * 32,
        "deep-33": "[" * 33 + "]" * 33,
        "deep-1000-unclosed": "[" * 1000,
    }
    out = {name: text.encode() for name, text in s.items()}
    out["invalid-utf8"] = b'{"email":"\xff\xfe","password":"p","name":"n"}'
    out["overlong-utf8"] = b'{"name":"\xc0\xaf"}'
    out["surrogate-utf8"] = b'{"name":"\xed\xa0\x80"}'
    out["truncated-utf8"] = b'{"name":"\xe2\x82"}'
    out["nul-byte"] = b'{"name":"a\x00b"}'
    return out


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_seeds():
    user_header = '{"alg":"EdDSA","typ":"JWT","kid":"k1"}'
    user_payload = '{"iss":"shop","sub":"42","role":"customer","iat":@,"exp":@+3600}'
    service_header = '{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}'
    service_payload = '{"iss":"shop","sub":"orders","client_id":"orders","aud":"shop-internal","jti":"abc","iat":@,"exp":@+600}'
    signed = {  # mode 1: header, payload
        "user": (user_header, user_payload),
        "user-no-typ": ('{"alg":"EdDSA","kid":"k1"}', user_payload),
        "admin": (user_header, '{"iss":"shop","sub":"1","role":"admin","iat":@-10,"exp":@+86390,"nbf":@}'),
        "service": (service_header, service_payload),
        "service-as-user": (user_header, service_payload),
        "user-as-service": (service_header, user_payload),
        "alg-none": ('{"alg":"none","typ":"JWT","kid":"k1"}', user_payload),
        "alg-case": ('{"alg":"EDDSA","typ":"JWT","kid":"k1"}', user_payload),
        "alg-hs256": ('{"alg":"HS256","typ":"JWT","kid":"k1"}', user_payload),
        "alg-array": ('{"alg":["EdDSA"],"typ":"JWT","kid":"k1"}', user_payload),
        "alg-missing": ('{"typ":"JWT","kid":"k1"}', user_payload),
        "kid-other-key": ('{"alg":"EdDSA","typ":"JWT","kid":"k2"}', user_payload),
        "kid-unknown": ('{"alg":"EdDSA","typ":"JWT","kid":"k3"}', user_payload),
        "kid-empty": ('{"alg":"EdDSA","typ":"JWT","kid":""}', user_payload),
        "kid-path": ('{"alg":"EdDSA","typ":"JWT","kid":"../../k1"}', user_payload),
        "kid-nul": ('{"alg":"EdDSA","typ":"JWT","kid":"k1\\u0000"}', user_payload),
        "kid-number": ('{"alg":"EdDSA","typ":"JWT","kid":1}', user_payload),
        "kid-twice": ('{"alg":"EdDSA","typ":"JWT","kid":"k2","kid":"k1"}', user_payload),
        "kid-missing": ('{"alg":"EdDSA","typ":"JWT"}', user_payload),
        "header-crit": ('{"alg":"EdDSA","typ":"JWT","kid":"k1","crit":["exp"]}', user_payload),
        "header-jku": ('{"alg":"EdDSA","typ":"JWT","kid":"k1","jku":"http://evil/"}', user_payload),
        "header-jwk": ('{"alg":"EdDSA","typ":"JWT","kid":"k1","jwk":{"kty":"OKP"}}', user_payload),
        "typ-lower": ('{"alg":"EdDSA","typ":"jwt","kid":"k1"}', user_payload),
        "expired": (user_header, '{"iss":"shop","sub":"42","role":"customer","iat":@-3600,"exp":@-1}'),
        "iat-future": (user_header, '{"iss":"shop","sub":"42","role":"customer","iat":@+120,"exp":@+3600}'),
        "nbf-future": (user_header, '{"iss":"shop","sub":"42","role":"customer","iat":@,"exp":@+3600,"nbf":@+61}'),
        "lifetime-too-long": (user_header, '{"iss":"shop","sub":"42","role":"customer","iat":@,"exp":@+86401}'),
        "iat-float": (user_header, '{"iss":"shop","sub":"42","role":"customer","iat":1.0,"exp":@+3600}'),
        "exp-string": (user_header, '{"iss":"shop","sub":"42","role":"customer","iat":@,"exp":"9999999999"}'),
        "exp-2-64": (user_header, '{"iss":"shop","sub":"42","role":"customer","iat":@,"exp":18446744073709551616}'),
        "sub-leading-zero": (user_header, '{"iss":"shop","sub":"042","role":"customer","iat":@,"exp":@+3600}'),
        "sub-negative": (user_header, '{"iss":"shop","sub":"-1","role":"customer","iat":@,"exp":@+3600}'),
        "sub-overflow": (user_header, '{"iss":"shop","sub":"9223372036854775808","role":"customer","iat":@,"exp":@+3600}'),
        "sub-number": (user_header, '{"iss":"shop","sub":42,"role":"customer","iat":@,"exp":@+3600}'),
        "role-root": (user_header, '{"iss":"shop","sub":"42","role":"root","iat":@,"exp":@+3600}'),
        "aud-on-user": (user_header, '{"iss":"shop","sub":"42","role":"customer","aud":"x","iat":@,"exp":@+3600}'),
        "iss-other": (user_header, '{"iss":"shopx","sub":"42","role":"customer","iat":@,"exp":@+3600}'),
        "payload-dup": (user_header, '{"iss":"shop","sub":"42","role":"customer","role":"admin","iat":@,"exp":@+3600}'),
        "payload-deep": (user_header, '{"iss":"shop","sub":"42","role":"customer","iat":@,"exp":@+3600,"x":' + "[" * 8 + "]" * 8 + "}"),
        "payload-not-object": (user_header, '["iss","shop"]'),
        "jti-empty": (service_header, service_payload.replace('"jti":"abc"', '"jti":""')),
        "service-bad-name": (service_header, service_payload.replace('"orders"', '"Orders"')),
        "service-client-differs": (service_header, service_payload.replace('"client_id":"orders"', '"client_id":"users"')),
        "service-with-role": (service_header, service_payload[:-1] + ',"role":"admin"}'),
        "invalid-utf8": (user_header, '{"iss":"shop","sub":"42","role":"customer\udcff","iat":@,"exp":@+3600}'),
    }
    out = {}
    for name, (header, payload) in signed.items():
        out["signed-" + name] = bytes([1]) + (header + "\n" + payload).encode("utf-8", "surrogateescape")
    h, p = b64url(user_header.encode()), b64url(b'{"iss":"shop","sub":"42","role":"customer","iat":1,"exp":3601}')
    raw = {  # mode 0: the token as sent
        "three-parts": f"{h}.{p}.AAAA",
        "alg-none-empty-signature": b64url(b'{"alg":"none"}') + "." + p + ".",
        "two-parts": f"{h}.{p}",
        "four-parts": f"{h}.{p}.AAAA.AAAA",
        "padding": f"{h}==.{p}.AAAA",
        "whitespace": f"{h} .{p}.AAAA",
        "empty": "",
        "dots": "..",
    }
    for name, token in raw.items():
        out["raw-" + name] = bytes([0]) + token.encode()
    inputs = {  # mode 2: the signing input as is; the harness appends a valid signature
        "canonical": f"{h}.{p}",
        "padded": f"{h}=.{p}",
        "standard-alphabet": f"{h}.{p}".replace("-", "+").replace("_", "/") + "+/",
        "non-canonical-bits": f"{h}.{p[:-1]}{'B' if p[-1] == 'A' else 'A'}",
        "empty-payload": f"{h}.",
    }
    for name, text in inputs.items():
        out["input-" + name] = bytes([2]) + text.encode()
    x = b64url(bytes(range(32)))
    jwks = {  # mode 3: JWKS documents
        "one-key": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "a", "alg": "EdDSA", "use": "sig"}]},
        "two-keys": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "a"},
                              {"kty": "OKP", "crv": "Ed25519", "x": b64url(bytes(32)), "kid": "b", "key_ops": ["verify"]}]},
        "private": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "d": x, "kid": "a"}]},
        "dup-kid": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "a"}, {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "a"}]},
        "short-x": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x[:-2], "kid": "a"}]},
        "other-types": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "r"}, {"kty": "OKP", "crv": "X25519", "x": x, "kid": "c"},
                                 {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "e", "use": "enc"}]},
        "no-keys": {"keys": {}},
    }
    for name, doc in jwks.items():
        out["jwks-" + name] = bytes([3]) + json.dumps(doc, separators=(",", ":")).encode()
    out["jwks-dup-member"] = bytes([3]) + ('{"keys":[{"kty":"OKP","crv":"Ed25519","x":"%s","kid":"a","kid":"b"}]}' % x).encode()
    return out


def response_seeds():
    ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    s = {
        "ok": ok,
        "problem-503": "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nContent-Length: 27\r\nApi-Version: 1\r\n\r\n{\"code\":\"dependency_unav\"}",
        "keep-alive-twice": ok + ok,
        "chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(NEW_PRODUCT, 9) + "0\r\n\r\n" + ok,
        "chunked-trailers": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Checksum: 1\r\nConnection: keep-alive\r\n\r\n" + ok,
        "chunked-ext": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a=\"b\"\r\n{}\r\n0\r\n\r\n",
        "to-eof": "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":1}",
        "http10-to-eof": "HTTP/1.0 200 OK\r\n\r\n{}",
        "http10-keep-alive": "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}" + ok,
        "http10-chunked-keep-alive": "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" + ok,
        "connection-close": "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}" + ok,
        "no-content": "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n" + ok,
        "not-modified": "HTTP/1.1 304 Not Modified\r\n\r\n" + ok,
        "continue-then-ok": "HTTP/1.1 100 Continue\r\n\r\n" + ok,
        "te-gzip-cl": "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}" + ok,
        "cl-te-chunked": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "te-chunked-gzip": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "dup-cl": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{} ",
        "short-body": "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
        "cl-huge": "HTTP/1.1 200 OK\r\nContent-Length: 8388609\r\n\r\n{}",
        "bare-lf": "HTTP/1.1 200 OK\nContent-Length: 2\n\n{}",
        "status-999": "HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
        "status-short": "HTTP/1.1 20 OK\r\n\r\n",
        "no-reason": "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
        "obs-fold": "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
        "long-header": "HTTP/1.1 200 OK\r\nX-Long: " + "h" * 1500 + "\r\nContent-Length: 0\r\n\r\n",
        "chunk-ext-no-crlf": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;e=" + "a" * 1500,
        "empty": "",
        "partial-header": "HTTP/1.1 200 OK\r\nContent-Le",
    }
    out = {}
    for name, wire in s.items():
        out[name] = bytes([WHOLE, PRODUCTION]) + wire.encode()
    for name in ["keep-alive-twice", "chunked", "chunked-trailers", "to-eof"]:
        out[name + "-bytewise"] = bytes([BYTEWISE, PRODUCTION]) + s[name].encode()
    for name in ["chunked", "long-header", "chunk-ext-no-crlf", "to-eof", "keep-alive-twice"]:
        out[name + "-small-limits"] = bytes([VARIED, SMALL]) + s[name].encode()
    return out


def dict_entry(token):
    data = token.encode("utf-8", "surrogateescape") if isinstance(token, str) else token
    escaped = "".join(chr(b) if 0x20 <= b < 0x7f and b not in (0x22, 0x5c) else f"\\x{b:02x}" for b in data)
    return f'"{escaped}"'


HTTP_WORDS = ["\r\n", "\r\n\r\n", ": ", "HTTP/1.1", "HTTP/1.0", "GET", "POST", "PATCH", "DELETE", "HEAD",
              "Host: shop\r\n", "Transfer-Encoding: ", "chunked", "gzip", "Content-Length: ", "Connection: ", "close",
              "keep-alive", "Expect: 100-continue\r\n", "Authorization: Bearer ", "Authorization: Bearer $USER_TOKEN\r\n",
              "Authorization: Bearer $ADMIN_TOKEN\r\n", "Content-Type: application/json\r\n", "Api-Version: 1\r\n",
              "X-Request-Id: ", "traceparent: ", "Idempotency-Key: ", "Trailer: ", "Upgrade: ", "Proxy-Connection: ",
              "/users", "/users/me", "/auth/token", "/products", "/products/1", "/orders", "/orders/1/cancel",
              "/health/ready", "/metrics", "/.well-known/jwks.json", "?limit=", "&after=", ";", "=", "\"", "\\",
              "0\r\n\r\n", "\r\n0\r\n", " \t", "ffffffffffffffff", "1048577", "200 OK", "204", "304", "100 Continue"]
JSON_WORDS = ["{", "}", "[", "]", ":", ",", "\"", "null", "true", "false", "-0", "1e400", "1.0", "1E2",
              "18446744073709551616", "9223372036854775808", "-9223372036854775808", "\\u0000", "\\ud800", "\\udc00",
              "\\\"", "\\\\", "/*", "*/", b"\xc0\xaf", b"\xed\xa0\x80", b"\xff",
              "\"email\"", "\"password\"", "\"name\"", "\"sku\"", "\"price_cents\"", "\"stock\"", "\"items\"",
              "\"product_id\"", "\"quantity\"", "\"order_ref\"", "\"lines\"", "\"released\"", "\"next_after\"", "\"id\"",
              "\"created_at\"", "\"role\"", "\"access_token\"", "\"token_type\"", "\"expires_in\"", "\"unit_price_cents\"",
              "\"code\"", "\"detail\"", "\"customer\"", "\"admin\"", "\"Bearer\""]
TOKEN_WORDS = ["\"alg\"", "\"EdDSA\"", "\"none\"", "\"kid\"", "\"k1\"", "\"k2\"", "\"typ\"", "\"JWT\"", "\"at+jwt\"",
               "\"iss\"", "\"shop\"", "\"sub\"", "\"role\"", "\"admin\"", "\"customer\"", "\"iat\"", "\"exp\"", "\"nbf\"",
               "\"aud\"", "\"shop-internal\"", "\"client_id\"", "\"jti\"", "\"crit\"", "\"jku\"", "\"jwk\"", "\"x5c\"",
               "@", "@+3600", "@-1", "@+61", "@+86400", "\"keys\"", "\"kty\"", "\"OKP\"", "\"crv\"", "\"Ed25519\"",
               "\"x\"", "\"d\"", "\"use\"", "\"sig\"", "\"key_ops\"", "\"verify\"", "eyJ", ".", "=", "+", "/"]


def write(harness, seeds, words):
    directory = os.path.join(HERE, "corpus", harness)
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    regressions = os.path.join(HERE, "regressions", harness)
    if os.path.isdir(regressions):
        for name in os.listdir(regressions):
            with open(os.path.join(regressions, name), "rb") as f:
                seeds["regression-" + name] = f.read()
    for name, data in sorted(seeds.items()):
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
    os.makedirs(os.path.join(HERE, "dict"), exist_ok=True)
    with open(os.path.join(HERE, "dict", harness + ".dict"), "w") as f:
        f.write(f"# libFuzzer dictionary for {harness}; written by make_seeds.py\n")
        for word in words:
            f.write(dict_entry(word) + "\n")
    total = sum(len(d) for d in seeds.values())
    print(f"{harness}: {len(seeds)} seeds, {total} bytes, largest {max(len(d) for d in seeds.values())}")


if __name__ == "__main__":
    write("request", request_seeds(), HTTP_WORDS)
    write("chunked", chunked_seeds(), HTTP_WORDS)
    write("json_body", json_seeds(), JSON_WORDS)
    write("token", token_seeds(), TOKEN_WORDS + JSON_WORDS[:20])
    write("response", response_seeds(), HTTP_WORDS)
