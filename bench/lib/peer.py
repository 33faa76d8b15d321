"""The peer row of bench/run.sh (bench/README.md, "Peer: Moleculer"); used by bench.py. Stdlib only.

The same `GET /products/{id}` load as shop's layouts against an idiomatic Moleculer app
(bench/peer/moleculer/: moleculer, moleculer-web, better-sqlite3 12 from the npm registry), in one process
(both services in one broker, no transporter) and split (a gateway broker and a products broker over
Moleculer's TCP transporter). Installed with `npm ci` when bench/peer/moleculer/node_modules is missing or
was installed from another lock file or Node.js; seeded directly into its SQLite file with the products the
run seeds into shop; started, pinned and measured like the layouts (bench.py's Procs, run_wrk and
measure_workload). Where Node.js or npm is absent, or the install fails, the row is skipped with a note:
that never fails the run. A Moleculer process that fails once installed does, like a layout.

bench.py passes itself as `B` (it runs as __main__, so this module does not import it).
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER_DIR = os.path.join(os.path.dirname(HERE), "peer", "moleculer")
NAME = "Moleculer"
MODES = [("one", "Moleculer, one process"), ("split", "Moleculer split (TCP transporter)")]
PACKAGES = ["moleculer", "moleculer-web", "better-sqlite3"]
NODE_ENV = "SHOP_BENCH_NODE"  # a node executable to use instead of PATH's; "none" takes Node.js as absent
MIN_NODE = 20                 # better-sqlite3 12 needs Node.js 20 (and moleculer 0.15 needs 22: 0.14 is used)
LOG_LEVEL = "warn"
INSTALL_TIMEOUT = 900
STAMP = ".shop-bench-installed"  # in node_modules: what it was installed from (lock file, Node.js)
TRANSPORT = ("Moleculer's TCP transporter with a static list of the two endpoints on 127.0.0.1 (`urls`, UDP "
             "discovery off), JSON serializer")


class Skip(Exception):
    """The row cannot run on this machine (no Node.js, install failed): a note, not a failure."""


# ---------------------------------------------------------------------------------------------
# Node.js and the packages


def find_node():
    """(node, npm-cli.js) to use; raises Skip where there are none."""
    override = os.environ.get(NODE_ENV)
    if override is not None:
        if override in ("", "none"):
            raise Skip(f"{NODE_ENV}={override!r}: Node.js taken as absent")
        node = shutil.which(override)
        if not node:
            raise Skip(f"{NODE_ENV}={override} is not an executable")
        npm = os.path.join(os.path.dirname(node), "npm")
        npm = npm if os.access(npm, os.X_OK) else shutil.which("npm")
    else:
        node, npm = shutil.which("node"), shutil.which("npm")
    if not node:
        raise Skip(f"node not found (Node.js {MIN_NODE} or later, with npm)")
    if not npm:
        raise Skip("npm not found")
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Skip(f"{node} --version failed: {e}")
    m = re.match(r"v(\d+)\.", version)
    if not m:
        raise Skip(f"{node} --version printed {version!r}")
    if int(m.group(1)) < MIN_NODE:
        raise Skip(f"Node.js {version} is too old (better-sqlite3 12 needs {MIN_NODE} or later)")
    # npm is a node script: run it with this node (its `#!/usr/bin/env node` would take PATH's).
    return node, os.path.realpath(npm), version


def install_key(node_version):
    h = hashlib.sha256()
    for f in ("package.json", "package-lock.json"):
        with open(os.path.join(PEER_DIR, f), "rb") as fh:
            h.update(fh.read())
    h.update(node_version.encode())
    return h.hexdigest()


def versions():
    out = {}
    for p in PACKAGES:
        try:
            with open(os.path.join(PEER_DIR, "node_modules", p, "package.json")) as f:
                out[p] = json.load(f)["version"]
        except (OSError, ValueError, KeyError):
            out[p] = None
    return out


def loads(node, env):
    """None when every package loads (better-sqlite3's native module included) under this node, else why not."""
    script = ("for (const m of %s) require(m);"
              "new (require('better-sqlite3'))(':memory:').prepare('SELECT 1').get();" % json.dumps(PACKAGES))
    try:
        r = subprocess.run([node, "-e", script], cwd=PEER_DIR, env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1][:300]


def kill_tree(B, pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += B.children_of(p)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def install(P, args, B, node, npm, node_version):
    """`npm ci` into bench/peer/moleculer unless node_modules was installed from this lock file with this
    Node.js (STAMP). Returns {"ran", "seconds"}; raises Skip when it fails."""
    env = dict(P.env)
    env["PATH"] = os.path.dirname(node) + os.pathsep + env.get("PATH", "")
    key = install_key(node_version)
    stamp = os.path.join(PEER_DIR, "node_modules", STAMP)
    # One install at a time per checkout (two runs started together); a lock on the directory itself.
    fd = os.open(PEER_DIR, os.O_RDONLY)
    try:
        deadline = time.monotonic() + INSTALL_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Skip(f"another run held {PEER_DIR} for {INSTALL_TIMEOUT} s (installing?)")
                time.sleep(0.5)
        try:
            with open(stamp) as f:
                current = f.read().strip() == key
        except OSError:
            current = False
        if current and loads(node, env) is None:
            return {"ran": False, "seconds": 0.0}
        # node-gyp builds better-sqlite3 (its prebuilt binaries are downloaded from outside the npm registry,
        # which fails here) against the headers beside this node, rather than downloading them.
        prefix = os.path.dirname(os.path.dirname(os.path.realpath(node)))
        if "npm_config_nodedir" not in {k.lower() for k in env} and os.path.exists(
                os.path.join(prefix, "include", "node", "node.h")):
            env["npm_config_nodedir"] = prefix
        env["JOBS"] = "max"
        log_path = os.path.join(args.work, "peer-npm-ci.log")
        B.log(f"peer: npm ci in {os.path.relpath(PEER_DIR, B.REPO)} (builds better-sqlite3; a few minutes; log "
              f"{log_path})")
        t0 = time.monotonic()
        # Not measured: every core (the driver itself stays on wrk's).
        p = P.start("npm-ci", [node, npm, "ci", "--no-audit", "--no-fund"], cpus=args.all_cpus, log_path=log_path,
                    env=env, cwd=PEER_DIR)
        try:
            p.wait(timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            kill_tree(B, p.pid)
            p.wait()
            raise Skip(f"npm ci did not finish within {INSTALL_TIMEOUT} s")
        finally:
            if p.poll() is None:  # interrupted: npm's install scripts (node-gyp, make, cc) too
                kill_tree(B, p.pid)
        seconds = time.monotonic() - t0
        if p.returncode != 0:
            lines = [ln for ln in B.tail(log_path, 40).splitlines() if ln.strip()]
            err = [ln for ln in lines if "ERR" in ln] or lines
            raise Skip(f"npm ci failed (exit {p.returncode}): " + " / ".join(err[-3:])[:400])
        why = loads(node, env)
        if why:
            raise Skip(f"installed, but the packages do not load under {node_version}: {why}")
        with open(stamp, "w") as f:
            f.write(key + "\n")
        B.log(f"peer: installed in {seconds:.0f} s")
        return {"ran": True, "seconds": seconds}
    finally:
        os.close(fd)


def seed_db(P, args, node, db):
    t0 = time.monotonic()
    r = subprocess.run([node, os.path.join(PEER_DIR, "seed.js"), db, str(args.products)], cwd=PEER_DIR,
                       env=P.env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"seeding {db} failed (exit {r.returncode}): {r.stderr.strip()[-1000:]}")
    return time.monotonic() - t0


# ---------------------------------------------------------------------------------------------
# The two modes


def start_mode(P, args, B, node, mode, db):
    """Starts a mode with moleculer-runner, as a Moleculer project runs in production, every process pinned to
    the server CPUs like shop's; ready when GET /products/1 answers 200 through the gateway (the api service
    waits for `products` before it listens: in split mode, until the products node is known)."""
    runner = os.path.join(PEER_DIR, "node_modules", "moleculer", "bin", "moleculer-runner.js")
    config = os.path.join(PEER_DIR, "moleculer.config.js")
    http_port = B.free_port()
    common = {"PEER_DB": db, "PEER_LOG_LEVEL": LOG_LEVEL, "NODE_ENV": "production",
              # A namespace of the run's own: no other Moleculer node on the machine can join.
              "PEER_NAMESPACE": "shop-bench-" + os.path.basename(args.work.rstrip("/"))}
    started, logs = [], {}

    def start(name, services, env):
        logs[name] = os.path.join(args.work, f"peer-moleculer-{mode}-{name}.log")
        argv = [node, runner, "--config", config] + [os.path.join(PEER_DIR, "services", f"{s}.service.js")
                                                      for s in services]
        started.append(P.start(name, argv, cpus=args.server_cpus, log_path=logs[name], env=dict(common, **env),
                               cwd=PEER_DIR))

    t0 = time.monotonic()
    try:
        if mode == "one":
            start("moleculer", ["api", "products"], {"PEER_NODE_ID": "one", "PEER_HTTP_PORT": str(http_port)})
        else:
            ports = set()
            while len(ports) < 2:
                ports.add(B.free_port())
            gw, pr = sorted(ports)
            urls = f"127.0.0.1:{gw}/gateway,127.0.0.1:{pr}/products"
            start("products", ["products"], {"PEER_NODE_ID": "products", "PEER_TCP_URLS": urls})
            start("gateway", ["api"], {"PEER_NODE_ID": "gateway", "PEER_TCP_URLS": urls,
                                       "PEER_HTTP_PORT": str(http_port)})
        B.wait_ready(http_port, started, path="/products/1", timeout=60.0)
    except Exception:
        P.stop(started)
        raise
    return B.Layout(f"moleculer-{mode}", started, http_port, time.monotonic() - t0, logs, None)


def expected_product(i):
    """What bench/lib/seed.py creates as product i (and seed.js writes), without created_at."""
    return {"id": i, "sku": f"bench-{i:06d}", "name": f"Bench product {i:06d}", "price_cents": 100 + (i * 37) % 9900,
            "stock": 1_000_000_000}


def check_answers(B, layout, products):
    """GET /products/N answers the seeded product with API.md's fields; N+1 a 404 problem with code not_found."""
    status, body = B.http_get(layout.port, f"/products/{products}", timeout=5.0)
    if status != 200:
        raise RuntimeError(f"GET /products/{products}: {status} {body[:200]!r}")
    got = json.loads(body)
    if list(got) != ["id", "sku", "name", "price_cents", "stock", "created_at"] or \
            {k: v for k, v in got.items() if k != "created_at"} != expected_product(products):
        raise RuntimeError(f"GET /products/{products} answered {body[:300]!r}")
    status, missing = B.http_get(layout.port, f"/products/{products + 1}", timeout=5.0)
    if status != 404 or json.loads(missing or b"{}").get("code") != "not_found":
        raise RuntimeError(f"GET /products/{products + 1}: {status} {missing[:200]!r} (want 404 not_found)")
    return {"body_bytes": len(body), "body": body.decode(), "not_found_body": missing.decode()}


def bench_mode(P, args, B, node, mode, db):
    B.log(f"=== peer: {NAME} {mode}")
    layout = start_mode(P, args, B, node, mode, db)
    out = {"ready_s": layout.ready_s, "processes": [p.bench_name for p in layout.procs]}
    B.log(f"peer {mode}: ready in {layout.ready_s * 1000:.0f} ms")
    try:
        out.update(check_answers(B, layout, args.products))
        out["idle_rss_mib"] = sum(B.status_kib(pid, "VmRSS") for pid in layout.pids) / 1024
        out["threads"] = {p.bench_name: len(B.all_tasks(p.pid)) for p in layout.procs}
        out["workloads"] = {}
        # The product workload reads no tokens file.
        B.measure_workload(P, args, layout, "product", os.devnull, label=f"moleculer-{mode}",
                           into=out["workloads"].setdefault("product", {}))
    finally:
        P.stop(layout.procs)
    return out


def bench_peer(P, args, results, B):
    """The peer row into results["peer"]. Returns 1 when a mode failed once installed, else 0."""
    peer = results["peer"] = {"name": NAME, "dir": os.path.relpath(PEER_DIR, B.REPO), "log_level": LOG_LEVEL,
                              "transport": TRANSPORT, "modes": {}}
    if args.no_peer:
        peer["skipped"] = "--no-peer"
        return 0
    try:
        if "product" not in args.workloads:
            raise Skip("this run has no GET /products/{id} workload (--workloads)")
        node, npm, node_version = find_node()
        peer["node"] = node_version
        peer["install"] = install(P, args, B, node, npm, node_version)
    except Skip as e:
        peer["skipped"] = str(e)
        B.log(f"peer row ({NAME}) SKIPPED: {e}")
        results["notes"].append(f"the peer row ({NAME}) was skipped: {e}")
        return 0
    peer["versions"] = versions()
    db = os.path.join(args.work, "peer-moleculer", "products.db")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    peer["seed_s"] = seed_db(P, args, node, db)
    B.log(f"peer: seeded {args.products} products into {db} in {peer['seed_s']:.1f} s; node {node_version}, "
          + ", ".join(f"{k} {v}" for k, v in peer["versions"].items()))
    rc = 0
    for mode, _ in MODES:
        try:
            peer["modes"][mode] = bench_mode(P, args, B, node, mode, db)
        except B.Stop:
            raise
        except Exception as e:  # noqa: BLE001 - recorded, the other mode goes on; fails the run like a layout
            msg = f"peer {NAME} {mode} failed: {e}"
            B.log(msg)
            results["notes"].append(msg.splitlines()[0])
            peer["modes"][mode] = {"error": str(e)}
            rc = 1
    return rc


# ---------------------------------------------------------------------------------------------
# Report


def all_runs(results):
    for mode, v in results.get("peer", {}).get("modes", {}).items():
        for c, x in v.get("workloads", {}).get("product", {}).items():
            for r in x["runs"]:
                yield f"moleculer-{mode} product c={c}", r


def failures(results):
    """(where, why) for the self-checks: the peer row or one of its modes failed, or one of its runs had errors.
    A skip (no Node.js, a failed install) is a note, not a failure."""
    out = []
    peer = results.get("peer", {})
    if peer.get("error"):
        out.append(("peer row", peer["error"].strip().splitlines()[0]))
    for mode, v in peer.get("modes", {}).items():
        if v.get("error"):
            out.append((f"peer row: moleculer-{mode}", v["error"].strip().splitlines()[0]))
    for where, r in all_runs(results):
        if r.get("errors"):
            out.append((f"peer row: {where}", f"{r['errors']} errors"))
    return out


def rows(results, c):
    """(key, label, processes, median) of the four rows at `c` connections; median None where not measured."""
    L, peer = results["layouts"], results.get("peer", {})

    def shop(n):
        return L.get(n, {}).get("workloads", {}).get("product", {}).get(str(c), {}).get("median")

    def mol(m):
        return peer.get("modes", {}).get(m, {}).get("workloads", {}).get("product", {}).get(str(c), {}).get("median")

    def procs(v):
        return ", ".join(v.get("processes", [])) or "–"

    return [("shop-monolith", "shop monolith", procs(L.get("monolith", {})), shop("monolith")),
            ("shop-split", "shop split", procs(L.get("split", {})), shop("split")),
            ("moleculer-one", "Moleculer one process", "node: api + products", mol("one")),
            ("moleculer-split", "Moleculer split", "node: gateway (api); node: products", mol("split"))]


def report_section(results, B):
    cfg, peer = results["config"], results.get("peer")
    if not peer:
        return []
    md = [f"### Peer: {NAME}\n"]
    if peer.get("error"):
        md.append(f"> **Failed:** {peer['error'].splitlines()[0]}\n")
    if peer.get("skipped") == "--no-peer":
        md.append("Left out (`--no-peer`).\n")
        return md
    if peer.get("skipped"):
        md.append(f"Skipped: {peer['skipped']}. (`bench/README.md`, \"Peer: Moleculer\": it needs Node.js "
                  f"{MIN_NODE}+ and npm.)\n")
        return md
    ver = peer.get("versions", {})
    md.append(f"The same `GET /products/{{id}}` load against an idiomatic {NAME} app (`{peer['dir']}`: Node.js "
              f"{peer.get('node', '?')}, moleculer {ver.get('moleculer')}, moleculer-web {ver.get('moleculer-web')}, "
              f"better-sqlite3 {ver.get('better-sqlite3')}): a `products` service whose `get` action reads the "
              f"product from SQLite with a prepared statement, and an `api` gateway (moleculer-web, `GET "
              f"/products/:id` → `products.get`). *One process*: both services in one broker, no transporter, the "
              f"call is local. *Split*: a gateway broker and a products broker, {TRANSPORT}. Started with "
              f"moleculer-runner, every process pinned like shop's (CPU {cfg['server_cpus']}, wrk on CPU "
              f"{cfg['wrk_cpus']}); {cfg['products']:,} products seeded into its SQLite file with the same "
              f"fields; same wrk script and seed, connections, warm-up, duration and repeats as the rows above. "
              f"CPU summed over the mode's node processes.\n")
    for mode, label in MODES:
        v = peer.get("modes", {}).get(mode, {})
        if v.get("error"):
            md.append(f"> **{label} failed:** {v['error'].splitlines()[0]}\n")
    lines = ["| implementation | conns | processes | req/s | p50 ms | p90 ms | p99 ms | CPU s / 1k req | cores used | "
             "peak RSS MiB | bytes / response | errors |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    keys = ["rps", "p50_ms", "p90_ms", "p99_ms", "cpu_s_per_1k", "cpu_util", "rss_mib"]
    for c in cfg["conns"]:
        rs = rows(results, c)
        for _, label, procs, m in rs:
            if m:
                bpr = m.get("bytes_per_response")
                lines.append(f"| {label} | {c} | {procs} | {B.fmt(m['rps'], 'rps')} | {B.fmt(m['p50_ms'], 'ms')} | "
                             f"{B.fmt(m['p90_ms'], 'ms')} | {B.fmt(m['p99_ms'], 'ms')} | {B.fmt3(m['cpu_s_per_1k'])} | "
                             f"{B.fmt2(m['cpu_util'])} | {B.fmt(m['rss_mib'], 'mib')} | "
                             f"{'–' if bpr is None else f'{bpr:.0f}'} | {m['errors']} |")
            else:
                lines.append(f"| {label} | {c} | {procs} | not measured in this run |" + " |" * 8)
        by = {k: m for k, _, _, m in rs}
        for num, den, label in (("shop-split", "shop-monolith", "shop split/monolith"),
                                ("moleculer-split", "moleculer-one", "Moleculer split/one process")):
            a, b = by[num], by[den]
            if a and b:
                lines.append(f"| **{label}** | {c} | | " + " | ".join(B.fmt(B.ratio(a[k], b[k]), "ratio") for k in keys)
                             + " | | |")
    md.append("\n".join(lines) + "\n")
    md.append("| mode | ready ms | idle RSS MiB | threads |")
    md.append("|---|---:|---:|---|")
    for mode, label in MODES:
        v = peer.get("modes", {}).get(mode, {})
        if "ready_s" in v:
            md.append(f"| {label} | {v['ready_s'] * 1000:.0f} | {B.fmt(v.get('idle_rss_mib'), 'mib')} | "
                      + ", ".join(f"{k} {t}" for k, t in v.get("threads", {}).items()) + " |")
    md.append("")
    md.append(reading(results) + "\n")
    md.append(fairness(results) + "\n")
    return md


def reading(results):
    c = max(results["config"]["conns"])
    by = {k: m for k, _, _, m in rows(results, c)}
    sm, ss, mo, ms = by["shop-monolith"], by["shop-split"], by["moleculer-one"], by["moleculer-split"]
    out = [f"**Reading ({c} connections).**"]
    if mo and sm:
        out.append(f"- **One process each.** shop's monolith {sm['rps']:,.0f} req/s against {NAME}'s "
                   f"{mo['rps']:,.0f} ({B_ratio(sm['rps'], mo['rps'])}), {sm['cpu_s_per_1k']:.3f} against "
                   f"{mo['cpu_s_per_1k']:.3f} ms of CPU per request ({B_ratio(mo['cpu_s_per_1k'], sm['cpu_s_per_1k'])} "
                   f"as much for {NAME}), p99 {ms_(sm['p99_ms'])} against {ms_(mo['p99_ms'])} ms.")
    for label, den, one, split, what in (
            (NAME, "one process", mo, ms, "the gateway node serializes each call to JSON and sends it over TCP to the products "
                           "node, which answers the same way: two event loops and a socket round trip per request"),
            ("shop", "monolith", sm, ss, "the gateway forwards each request over a pooled loopback HTTP connection to "
                             "shop-products")):
        if one and split:
            s = (f"- **Splitting {label}.** split/{den}: {B_ratio(split['rps'], one['rps'])} req/s, "
                 f"{B_ratio(split['cpu_s_per_1k'], one['cpu_s_per_1k'])} CPU per request ({split['cpu_s_per_1k']:.3f} "
                 f"vs {one['cpu_s_per_1k']:.3f} ms; by process: "
                 + ", ".join(f"{k} {v:.3f}" for k, v in sorted(split.get("cpu_by_proc_per_1k", {}).items(),
                                                                key=lambda kv: -kv[1]) if v > 0)
                 + f"), p99 {ms_(split['p99_ms'])} vs {ms_(one['p99_ms'])} ms: {what}.")
            if not all((x.get("cpu_util") or 0) >= 0.9 for x in (one, split)):
                s += (f" Cores used {one['cpu_util']:.2f} and {split['cpu_util']:.2f}: below 0.9 the server core "
                      f"was not saturated by the mode (it waited, or other work on the machine held the core), so "
                      f"CPU per request is the steadier figure.")
            out.append(s)
    if mo and ms and sm and ss:
        out.append(f"- **What a split costs each.** Throughput split/one process (shop: split/monolith): {NAME} "
                   f"{B_ratio(ms['rps'], mo['rps'])}, shop {B_ratio(ss['rps'], sm['rps'])}; CPU per request: {NAME} "
                   f"{B_ratio(ms['cpu_s_per_1k'], mo['cpu_s_per_1k'])}, shop {B_ratio(ss['cpu_s_per_1k'], sm['cpu_s_per_1k'])}"
                   f" — the split adds "
                   f"{ms['cpu_s_per_1k'] - mo['cpu_s_per_1k']:.3f} ms of CPU to {NAME} and "
                   f"{ss['cpu_s_per_1k'] - sm['cpu_s_per_1k']:.3f} ms to shop. The ratios compare like with like "
                   f"(each stack against itself on the same machine and load); the absolute figures compare two "
                   f"stacks with the differences listed below.")
    errs = [f"{k} {m['errors']}" for k, m in by.items() if m and m["errors"]]
    out.append("- **Errors:** " + ("none." if not errs else "; ".join(errs) + "."))
    return "\n".join(out)


def ms_(v):
    return "–" if v is None else (f"{v:.2f}" if v < 100 else f"{v:.0f}")


def B_ratio(a, b):
    return "–" if a is None or not b else f"{a / b:.2f}×"


def fairness(results):
    cfg, peer = results["config"], results["peer"]
    c = max(cfg["conns"])
    by = {k: m for k, _, _, m in rows(results, c)}
    sizes = ", ".join(f"{k} {m['bytes_per_response']:.0f}" for k, m in by.items()
                      if m and m.get("bytes_per_response"))
    shop_body = results["layouts"].get("monolith", {}).get("seed", {}).get("product_body_bytes")
    mol_body = next((v.get("body_bytes") for v in peer.get("modes", {}).values() if v.get("body_bytes")), None)
    return f"""**What is and is not comparable.**
- **Logging: in the peer's favour.** shop logs every request at `info` (one JSON line per request per process, to a
  file); the {NAME} processes log at `{peer['log_level']}`, so nothing per request (moleculer-web's `=> GET` and
  `<= 200` lines are `info`): warnings and errors (a lost node, a 5xx) still reach the log, and the figures
  measure the framework rather than its console logger.
- **Product cache: in shop's favour.** shop's products module answers `GET /products/{{id}}` from its in-memory
  product cache; the peer reads SQLite on every call (better-sqlite3, synchronous, one prepared statement, the file
  in the page cache). Moleculer's own cacher is left off (not configured in the app).
- **Same answer, different headers.** Body: the same six fields in the same order ({mol_body or '?'} bytes, shop's
  {shop_body or '?'}); unknown id: 404 with an RFC 9457-style problem body (code `not_found`) from the gateway's
  `onError`. Bytes per response on the wire (status line, headers, body; wrk): {sizes or '–'}. shop sends
  `Content-Type`, `Api-Version`, `X-Request-Id` (16 hex digits) and `Content-Length`; moleculer-web on Node's `http`
  sends `X-Request-ID` (a UUID per request), `Content-Type` with a charset, `Date`, `Connection`, `Keep-Alive` and
  `Content-Length`.
- **Processes and threads.** Each node process runs its JavaScript on one thread (plus V8's and libuv's helper
  threads), all pinned to CPU {cfg['server_cpus']} like shop's processes. The split {NAME} mode is two processes
  and no broker: its TCP transporter connects the nodes directly (heartbeats gossip in-process), where shop's
  split layout also runs nats-server (its registry) and the idle users and orders services, all counted.
  Parameter validation (fastest-validator, Moleculer's default) is on; metrics, tracing, retries and the circuit
  breaker are off (Moleculer's defaults). `NODE_ENV=production`, Node's default flags.
- **Warm-up.** V8 optimises the hot path while it runs: the {cfg['warmup']} s warm-up at {c} connections
  (discarded, as for shop) is all it gets{' — short in --quick' if cfg['quick'] else ''}.
- **Data.** The same {cfg['products']:,} products (ids, skus, names, prices, stock) written straight into the
  peer's SQLite file by `seed.js` (shop's table definition, WAL), not through an API; seeding is not measured.
"""


def summary_lines(results):
    peer = results.get("peer")
    if not peer:
        return []
    if peer.get("skipped"):
        return [f"peer {NAME}: skipped ({peer['skipped']})"]
    out = []
    for c in results["config"]["conns"]:
        by = {k: m for k, _, _, m in rows(results, c)}
        parts = [f"{k} {m['rps']:,.0f} req/s" for k, m in by.items() if m]
        mo, ms, sm, ss = by["moleculer-one"], by["moleculer-split"], by["shop-monolith"], by["shop-split"]
        if mo and ms:
            parts.append(f"Moleculer split/one {B_ratio(ms['rps'], mo['rps'])}")
        if sm and ss:
            parts.append(f"shop split/monolith {B_ratio(ss['rps'], sm['rps'])}")
        out.append(f"peer GET /products/{{id}} c={c}: " + ", ".join(parts))
    return out
