"""The cost ladder of one GetProduct (bench/run.sh's report section "Cost ladder: one GetProduct"): what each
boundary between a caller and the products module costs, one step at a time, on the same executables.

  1. in-process call                 shop-bench-products InProcess/GetProduct
  2. HTTP pipeline, no socket        shop-bench-products InProcess/AppHandle
  3. loopback to another process     shop-bench-products Remote/GetProduct (products::MakeHttpClient)
  3b. the same, wrk as the client    wrk -> shop-products on 127.0.0.1 (the reference of steps 4 to 6)
  4. through the gateway             wrk -> shop-gateway -> shop-products, all on 127.0.0.1
  5. container to container          wrk in a container -> the products container, on a compose network
  6. Swarm task to task              wrk in a task -> the products task, on an overlay network (dnsrr)

Per step: CPU per request of everything involved (the client, every server process on the request's path, and
the kernel's irq+softirq time on the server's and the client's cores, where the network receive work is charged
with IRQ time accounting), at 1 connection and at 16; latency p50/p99 at 1 connection; the increment over the
step before. Steps 3b to 6 are measured in one interleaved block (each repeat runs every target back to back),
so that their differences are not the machine's drift.

Steps 5 and 6 run only in the full run, when a Docker engine answers and the base image (debian:bookworm-slim,
split/make-base-image.sh) is there; nothing is built: the containers run the same executables as steps 3b and 4
(and wrk), bind-mounted read-only with the shared libraries they need. Everything made on the engine (compose
project, stack, the swarm itself when this run made it, docker_gwbridge when the swarm made it) is listed in
WORK/ladder-cleanup.sh as it is made; the ladder runs it at the end, also on error or Ctrl-C, and run.sh runs it
if the driver could not.
"""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import time

PRODUCTS = 1000  # as shop-bench-products seeds: the same ids, the same cache behaviour
CONNS = (1, 16)
BASE_IMAGE = "debian:bookworm-slim"
ADMIN_EMAIL, ADMIN_PASSWORD = "ladder-admin@bench.example", "ladder-admin-password"
# Libraries the base image has: the containers use its C library, not a copy.
GLIBC = ("linux-vdso", "ld-linux", "libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so")

STEPS = [  # key, label, what is crossed, the step its increment is taken over
    ("inproc", "1. in-process call", "`products::Api::GetProduct` on the module's service object", None),
    ("pipeline", "2. HTTP pipeline, no socket", "`GET /products/{id}` through `http::App::Handle`: routing, "
     "handler, JSON encoding, response headers, request id, metrics", "inproc"),
    ("loopback", "3. loopback to another process", "`products::MakeHttpClient` → shop-products over 127.0.0.1 "
     "(micro-benchmark's client: request, socket, JSON decoding)", "pipeline"),
    ("direct", "3b. loopback, wrk as client", "wrk → shop-products over 127.0.0.1: step 3 with the client of "
     "steps 4–6", "loopback"),
    ("gateway", "4. through the gateway", "wrk → shop-gateway → shop-products, 127.0.0.1", "direct"),
    ("compose", "5. container → container (compose network)", "wrk in a container → the products container, "
     "veth + Linux bridge, no published port", "direct"),
    ("swarm", "6. Swarm task → task (overlay, dnsrr)", "wrk in a task → the products task on a one-node Swarm's "
     "overlay network, `endpoint_mode: dnsrr`", "compose"),
]
LABELS = {k: label for k, label, _, _ in STEPS}


class Skip(Exception):
    pass


def sh(argv, timeout=120, check=True, env=None):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])}... failed ({r.returncode}): {(r.stderr or r.stdout).strip()[-800:]}")
    return r


class Cleanup:
    """What the ladder made on the Docker engine, undone in reverse order; kept as a shell script in the work dir
    so that run.sh can undo it too when the driver died before it could."""

    def __init__(self, work):
        self.path = os.path.join(work, "ladder-cleanup.sh")
        self.undo = []

    def add(self, lines):
        self.undo.append(lines)
        self._write()

    def _write(self):
        with open(self.path + ".tmp", "w") as f:
            f.write("#!/bin/bash\n# Written by bench/lib/ladder.py: undoes what the cost ladder made on the Docker "
                    "engine.\n")
            for lines in reversed(self.undo):
                f.write(lines.rstrip() + "\n")
        os.replace(self.path + ".tmp", self.path)

    def run(self, log):
        if not self.undo:
            return
        # Not to be cut short: Ctrl-C reaches run.sh too, which then sends SIGTERM to the driver.
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            r = subprocess.run(["bash", self.path], capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                log(f"ladder: clean-up script said: {(r.stderr or r.stdout).strip()[-400:]}")
            self.undo = []
            os.remove(self.path)
        finally:
            for s, h in old.items():
                signal.signal(s, h)


# ---------------------------------------------------------------------------------------------
# Host processes (steps 3b and 4)


class Host:
    """shop-users, shop-products and shop-gateway on 127.0.0.1 with static URLs (`--nats-url off`: no registry,
    as the micro-benchmark runs them), pinned to the server core, logging at `warn` (no request lines)."""

    def __init__(self, B, P, args, root):
        self.B, self.P, self.args, self.root = B, P, args, root
        # Free ports chosen up front: at `warn` a process logs no "listening" line to read its port from.
        self.ports = {n: B.free_port() for n in ("users", "products", "gateway")}
        self.procs = {}
        self.starts = 0

    def argv(self, name):
        b, p = self.args.bin_dir, self.ports
        common = ["--host", "127.0.0.1", "--port", str(p[name]), "--nats-url", "off", "--log-level", "warn"]
        users = f"http://127.0.0.1:{p['users']}"
        if name == "users":
            return [f"{b}/shop-users"] + common + ["--data-dir", f"{self.root}/users"]
        if name == "products":
            return [f"{b}/shop-products"] + common + ["--data-dir", f"{self.root}/products", "--users-url", users]
        # Orders is not started: the gateway needs a URL for it, and no request of the ladder goes there.
        return [f"{b}/shop-gateway"] + common + ["--users-url", users, "--products-url",
                                                 f"http://127.0.0.1:{p['products']}", "--orders-url",
                                                 "http://127.0.0.1:9"]

    def start(self, name):
        os.makedirs(f"{self.root}/{name}", exist_ok=True)
        env = {"SHOP_ADMIN_EMAIL": ADMIN_EMAIL, "SHOP_ADMIN_PASSWORD": ADMIN_PASSWORD} if name == "users" else None
        self.starts += 1
        log_path = f"{self.root}/{name}-{self.starts}.log"
        p = self.P.start(name, self.argv(name), cpus=self.args.server_cpus, log_path=log_path, env=env)
        self.procs[name] = p
        try:
            self.B.wait_ready(self.ports[name], [p], timeout=30)
        except Exception:
            self.stop([name])
            raise
        return p

    def stop(self, names=None):
        procs = [self.procs.pop(n) for n in list(names or self.procs) if n in self.procs]
        self.P.stop(procs)

    def seed(self):
        out = subprocess.run(["/usr/bin/python3", self.B.SEEDER, "--url", f"http://127.0.0.1:{self.ports['gateway']}",
                              "--products", str(PRODUCTS), "--users", "0", "--tokens-out", f"{self.root}/tokens",
                              "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD, "--connections",
                              "4"], capture_output=True, text=True, timeout=300, env=dict(self.P.env))
        if out.returncode != 0:
            raise RuntimeError(f"seeding {PRODUCTS} products failed: {out.stderr.strip()[-800:]}")


# ---------------------------------------------------------------------------------------------
# Containers (steps 5 and 6)


def docker_ok():
    """None when a Docker engine answers and has the base image, else why not."""
    if not shutil.which("docker"):
        return "no docker client"
    try:
        if sh(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=20, check=False).returncode != 0:
            return "no Docker engine answers (start dockerd)"
        if sh(["docker", "image", "inspect", BASE_IMAGE], timeout=20, check=False).returncode != 0:
            return f"no {BASE_IMAGE} image (split/make-base-image.sh makes it)"
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"docker did not answer: {e}"
    return None


def compose_cmd():
    if sh(["docker", "compose", "version"], timeout=20, check=False).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def stage(args, work):
    """WORK/ladder/opt: shop-users, shop-products and wrk, and every shared library they load that the base image
    does not have (its glibc is used), for bind-mounting read-only at /opt/ladder."""
    opt = os.path.join(work, "opt")
    os.makedirs(f"{opt}/bin", exist_ok=True)
    os.makedirs(f"{opt}/lib", exist_ok=True)
    exes = [os.path.join(args.bin_dir, "shop-users"), os.path.join(args.bin_dir, "shop-products"),
            shutil.which("wrk")]
    for exe in exes:
        shutil.copy2(exe, f"{opt}/bin/")
        for line in sh(["ldd", exe], timeout=20).stdout.splitlines():
            m = re.match(r"\s*(\S+) => (/\S+)", line)
            if m and not m.group(1).startswith(GLIBC):
                shutil.copy(m.group(2), f"{opt}/lib/{m.group(1)}")
    shutil.copy(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "wrk", "workload.lua"),
                f"{opt}/workload.lua")
    for root, dirs, files in os.walk(opt):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    os.chmod(opt, 0o755)
    return opt


def services(args, opt, data):
    """The three containers, as compose/stack service entries (JSON is YAML): users and products pinned to the
    server core with taskset, logging at `warn`, on port 8080; the client idles until wrk is exec'd in it."""
    env = {"LD_LIBRARY_PATH": "/opt/ladder/lib"}
    common = ["--host", "0.0.0.0", "--port", "8080", "--nats-url", "off", "--log-level", "warn"]
    pin = ["taskset", "-c", args.server_cpus]
    return {
        "users": {"command": pin + ["/opt/ladder/bin/shop-users"] + common + ["--data-dir", "/data/users"],
                  "volumes": [f"{opt}:/opt/ladder:ro", f"{data}/users:/data/users"]},
        "products": {"command": pin + ["/opt/ladder/bin/shop-products"] + common +
                     ["--data-dir", "/data/products", "--users-url", "http://users:8080"],
                     "volumes": [f"{opt}:/opt/ladder:ro", f"{data}/products:/data/products"]},
        "client": {"command": ["sleep", "infinity"], "volumes": [f"{opt}:/opt/ladder:ro"]},
    }, env


class Containers:
    """One environment of steps 5 or 6: its client and products containers, found once they run."""

    def __init__(self, key, label, ids):
        self.key, self.label, self.ids = key, label, ids
        self.pid = int(sh(["docker", "inspect", "-f", "{{.State.Pid}}", ids["products"]], timeout=20).stdout)

    def alive(self):
        return os.path.exists(f"/proc/{self.pid}")


def wait_products(cont, timeout=90):
    """Until products answers 200 on /health/ready, asked from inside the client container (bash's /dev/tcp)."""
    probe = ('exec 3<>/dev/tcp/products/8080 && printf "GET /health/ready HTTP/1.1\\r\\nHost: products\\r\\n'
             'Connection: close\\r\\n\\r\\n" >&3 && IFS= read -r -t 3 l <&3 && echo "$l"')
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        r = sh(["docker", "exec", cont.ids["client"], "bash", "-c", probe], timeout=20, check=False)
        last = (r.stdout or r.stderr).strip()
        if last.startswith("HTTP/1.1 200"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"{cont.label}: products not ready within {timeout} s (last answer: {last[:200]!r}); "
                       "its log: " + sh(["docker", "logs", "--tail", "15", cont.ids["products"]], check=False,
                                         timeout=20).stderr[-1500:])


def up_compose(args, cleanup, opt, data, log):
    dc = compose_cmd()
    if not dc:
        raise Skip("neither `docker compose` nor docker-compose")
    project = f"shopladder{os.getpid()}"
    svc, env = services(args, opt, data)
    spec = {"version": "2.4", "services": {
        name: dict(s, image=BASE_IMAGE, environment=env, labels={"shop.bench.ladder": project})
        for name, s in svc.items()}}
    spec["services"]["products"]["depends_on"] = ["users"]
    path = os.path.join(os.path.dirname(data), "compose.yml")
    with open(path, "w") as f:
        json.dump(spec, f, indent=1)
    cleanup.add(f"{' '.join(dc)} -p {project} -f {path} down -v --remove-orphans -t 3 >/dev/null 2>&1 || true")
    log(f"ladder: compose project {project} up")
    sh(dc + ["-p", project, "-f", path, "up", "-d"], timeout=180)
    ids = {n: sh(dc + ["-p", project, "-f", path, "ps", "-q", n], timeout=60).stdout.strip() for n in svc}
    cont = Containers("compose", LABELS["compose"], ids)
    wait_products(cont)
    return cont


def up_swarm(args, cleanup, opt, data, log):
    state = sh(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"], timeout=20).stdout.strip()
    if state != "inactive":
        raise Skip(f"this Docker engine is already in a swarm (state {state!r}), not made by this run: left alone")
    had_gwbridge = sh(["docker", "network", "inspect", "docker_gwbridge"], timeout=20, check=False).returncode == 0
    cleanup.add("docker swarm leave --force >/dev/null 2>&1 || true" +
                ("" if had_gwbridge else "\ndocker network rm docker_gwbridge >/dev/null 2>&1 || true"))
    log("ladder: docker swarm init --advertise-addr 127.0.0.1")
    sh(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], timeout=60)
    stack = f"shopladder{os.getpid()}"
    svc, env = services(args, opt, data)
    spec = {"version": "3.8", "networks": {"net": {"driver": "overlay"}}, "services": {
        name: dict(s, image=BASE_IMAGE, environment=env, networks=["net"],
                   deploy={"endpoint_mode": "dnsrr", "replicas": 1, "restart_policy": {"condition": "none"},
                           "labels": {"shop.bench.ladder": stack}})
        for name, s in svc.items()}}
    path = os.path.join(os.path.dirname(data), "stack.yml")
    with open(path, "w") as f:
        json.dump(spec, f, indent=1)
    cleanup.add(f"docker stack rm {stack} >/dev/null 2>&1 || true\n"
                f"for i in $(seq 1 120); do [ -z \"$(docker ps -aq --filter label=com.docker.stack.namespace={stack})\" ]"
                f" && [ -z \"$(docker network ls -q --filter label=com.docker.stack.namespace={stack})\" ] && break; "
                f"sleep 0.5; done")
    log(f"ladder: docker stack deploy {stack}")
    sh(["docker", "stack", "deploy", "--resolve-image", "never", "-c", path, stack], timeout=120)
    ids, deadline = {}, time.monotonic() + 120
    while len(ids) < len(svc) and time.monotonic() < deadline:
        for n in svc:
            cid = sh(["docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={stack}_{n}",
                      "--filter", "status=running"], timeout=20).stdout.split()
            if cid:
                ids[n] = cid[0]
        time.sleep(0.5)
    if len(ids) < len(svc):
        ps = sh(["docker", "stack", "ps", "--no-trunc", stack], timeout=30, check=False).stdout
        raise RuntimeError(f"swarm tasks not running within 120 s: {ps[-1500:]}")
    cont = Containers("swarm", LABELS["swarm"], ids)
    wait_products(cont)
    return cont


def container_wrk(B, args, cont, conns, seconds):
    """wrk inside the client container against products:8080, pinned to wrk's core. Measured as run_wrk measures:
    the products process's CPU from /proc (its host pid), wrk's from the shell's `times`, irq+softirq of both
    cores from /proc/stat."""
    threads = max(1, min(len(args.wrk_cpu_set), conns))
    script = (f"taskset -c {args.wrk_cpus} /opt/ladder/bin/wrk -t{threads} -c{conns} -d{seconds}s --timeout 5s "
              f"-s /opt/ladder/workload.lua http://products:8080 -- product {PRODUCTS} none 12345; rc=$?; times; "
              f"exit $rc")
    if not cont.alive():
        raise RuntimeError(f"{cont.label}: the products container's process is gone")
    all_cpus = args.server_cpu_set | args.wrk_cpu_set
    cpu0, cores0, t0 = B.cpu_ticks(cont.pid), B.cores_ticks(all_cpus), time.monotonic()
    server0 = B.cores_ticks(args.server_cpu_set)
    r = sh(["docker", "exec", cont.ids["client"], "bash", "-c", script], timeout=seconds + 60, check=False)
    wall = time.monotonic() - t0
    if not cont.alive():
        raise RuntimeError(f"{cont.label}: the products container's process exited during the run")
    cpu1, cores1, server1 = B.cpu_ticks(cont.pid), B.cores_ticks(all_cpus), B.cores_ticks(args.server_cpu_set)
    m = re.search(r"^BENCH_JSON (\{.*\})$", r.stdout, re.M)
    times = re.findall(r"(\d+)m([\d.]+)s", r.stdout.split("BENCH_JSON", 1)[-1])
    if r.returncode != 0 or not m or len(times) < 4:
        raise RuntimeError(f"{cont.label}: wrk failed (exit {r.returncode}): {(r.stdout + r.stderr)[-1500:]}")
    wrk_cpu = sum(int(mm) * 60 + float(ss) for mm, ss in times[2:4])  # children's user and system time
    return summarize(B, args, json.loads(m.group(1)), wall, {"products": (cpu1 - cpu0) / B.CLK_TCK}, wrk_cpu,
                     cores0, cores1, server0, server1)


def summarize(B, args, r, wall, cpu_by_proc, wrk_cpu, cores0, cores1, server0, server1):
    """A container run's figures, with the keys of run_wrk's that the ladder uses."""
    e = r["errors"]
    n = r["requests"]
    irq = (cores1["irq"] - cores0["irq"]) / B.CLK_TCK
    busy = (server1["busy"] - server0["busy"]) / B.CLK_TCK
    servers = sum(cpu_by_proc.values())
    ns = len(args.server_cpu_set)
    return {
        "requests": n, "rps": n / (r["duration_us"] / 1e6), "wall_s": wall,
        "p50_ms": r["latency_us"]["p50"] / 1000, "p99_ms": r["latency_us"]["p99"] / 1000,
        "mean_ms": r["latency_us"]["mean"] / 1000,
        "errors": e["connect"] + e["read"] + e["write"] + e["status"] + e["timeout"], "error_detail": e,
        "cpu_by_proc": cpu_by_proc, "wrk_cpu_s": wrk_cpu, "irq_s": irq,
        "foreign_core_share": max(0.0, busy - servers) / wall / ns if wall else None,
        "steal_share": (server1["steal"] - server0["steal"]) / B.CLK_TCK / wall / ns if wall else None,
        "server_idle_share": (server1["idle"] - server0["idle"]) / B.CLK_TCK / wall / ns if wall else None,
    }


def host_wrk(B, P, args, procs, port, conns, seconds):
    layout = B.Layout("ladder", procs, port, 0.0, {}, None)
    r = B.run_wrk(P, args, layout, "product", conns, seconds, "none", PRODUCTS)
    return {k: r[k] for k in ("requests", "rps", "wall_s", "p50_ms", "p99_ms", "mean_ms", "errors", "error_detail",
                              "cpu_by_proc", "wrk_cpu_s", "irq_s", "foreign_core_share", "steal_share",
                              "server_idle_share")}


def per_request_us(r):
    """Everything's CPU per request, µs: client + servers on the path + irq/softirq of both cores."""
    if not r["requests"]:
        return None
    return (sum(r["cpu_by_proc"].values()) + r["wrk_cpu_s"] + r["irq_s"]) / r["requests"] * 1e6


# ---------------------------------------------------------------------------------------------
# The ladder


def run(B, P, args, results, log):
    """Measures the ladder into results["ladder"]. Raises only Stop/KeyboardInterrupt; what failed is recorded
    (failures() turns it into the run's failures)."""
    quick = args.quick
    L = results["ladder"] = {"config": {"products": PRODUCTS, "conns": list(CONNS),
                                        "duration": 2 if quick else 3, "repeats": 1 if quick else 3,
                                        "warmup": 1},
                             "skipped": {}, "errors": [], "runs": {}}
    cfg = L["config"]
    work = os.path.join(args.work, "ladder")
    os.makedirs(work, exist_ok=True)
    host = Host(B, P, args, os.path.join(work, "host"))
    cleanup = Cleanup(args.work)
    envs = {}
    try:
        try:
            for exe in ("shop-users", "shop-products", "shop-gateway"):
                if not os.access(os.path.join(args.bin_dir, exe), os.X_OK):
                    raise Skip(f"{exe} not in {args.bin_dir} (a -DSHOP_SPLIT=ON build)")
            log(f"ladder: shop-users, shop-products, shop-gateway on 127.0.0.1; seeding {PRODUCTS} products")
            for n in ("users", "products", "gateway"):
                host.start(n)
            host.seed()
        except Skip as e:
            for k in ("direct", "gateway", "compose", "swarm"):
                L["skipped"][k] = str(e)
            return
        except Exception as e:  # noqa: BLE001 - recorded: fails the run
            L["errors"].append((LABELS["direct"], f"the host processes did not start or seed: {e}"))
            for k in ("gateway", "compose", "swarm"):
                L["skipped"][k] = "not run: the host processes did not start or seed (see the failures)"
            return
        targets = [("direct", lambda c, d: host_wrk(B, P, args, [host.procs["products"]], host.ports["products"], c, d)),
                   ("gateway", lambda c, d: host_wrk(B, P, args, [host.procs["gateway"], host.procs["products"]],
                                                     host.ports["gateway"], c, d))]
        why = "--quick runs the cheap steps only" if quick else docker_ok()
        if why:
            L["skipped"]["compose"] = L["skipped"]["swarm"] = why
        else:
            try:
                # The products data as seeded: products stopped (its database closed cleanly), copied, restarted.
                host.stop(["products"])
                for env in ("compose", "swarm"):
                    shutil.copytree(f"{host.root}/products", f"{work}/{env}/data/products")
                    os.makedirs(f"{work}/{env}/data/users")
                host.start("products")
                opt = stage(args, work)
            except Exception as e:  # noqa: BLE001
                L["errors"].append(("steps 5-6", f"staging the containers' files failed: {e}"))
                opt = None
            for env, up in (("compose", up_compose), ("swarm", up_swarm)) if opt else ():
                try:
                    envs[env] = up(args, cleanup, opt, f"{work}/{env}/data", log)
                    targets.append((env, lambda c, d, cont=envs[env]: container_wrk(B, args, cont, c, d)))
                except Skip as e:
                    L["skipped"][env] = str(e)
                    log(f"ladder: {env} skipped: {e}")
                except Exception as e:  # noqa: BLE001 - recorded: fails the run
                    L["errors"].append((LABELS[env], f"did not start: {str(e).strip()[:1500]}"))
                    log(f"ladder: {env} failed: {e}")
        # One interleaved block: per repeat and connection count, every target back to back.
        failed = set()
        for key, fn in targets:
            try:
                w = fn(16, cfg["warmup"])
                L["runs"].setdefault(key, {})["warmup"] = {k: w[k] for k in ("requests", "errors", "error_detail")}
            except Exception as e:  # noqa: BLE001
                L["errors"].append((LABELS[key], f"warm-up failed: {e}"))
                failed.add(key)
        for rep in range(cfg["repeats"]):
            for c in CONNS:
                for key, fn in targets:
                    if key in failed:
                        continue
                    try:
                        r = fn(c, cfg["duration"])
                    except Exception as e:  # noqa: BLE001
                        L["errors"].append((LABELS[key], f"run at {c} connection(s) failed: {e}"))
                        failed.add(key)
                        continue
                    L["runs"].setdefault(key, {}).setdefault(str(c), []).append(r)
                    log(f"ladder {key:8s} c={c:<2d} #{rep + 1}: {per_request_us(r) or 0:6.1f} µs CPU/req  "
                        f"p50 {r['p50_ms'] * 1000:6.0f} µs  p99 {r['p99_ms'] * 1000:6.0f} µs  "
                        f"{r['rps']:8.0f} req/s  errors {r['errors']}")
    finally:
        try:
            host.stop()
        finally:  # also when a signal cuts the stop short
            if cleanup.undo:
                log("ladder: removing what it made on the Docker engine")
            cleanup.run(log)
    L["docker"] = docker_facts() if envs else None


def docker_facts():
    out = {}
    try:
        out["server"] = sh(["docker", "version", "--format", "{{.Server.Version}}"], timeout=20, check=False).stdout.strip()
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
            out["bridge_nf_call_iptables"] = f.read().strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return out


# ---------------------------------------------------------------------------------------------
# Figures, checks, report


def figures(results):
    """{step: {"cpu1", "cpu16", "p50", "p99", "mean", "parts1": {...}}} in µs, for the steps measured."""
    out = {}
    rows = (results.get("micro") or {}).get("rows", {})
    for key, name in (("inproc", "InProcess/GetProduct"), ("pipeline", "InProcess/AppHandle"),
                      ("loopback", "Remote/GetProduct")):
        v = rows.get(name)
        if not v or "cpu_us" not in v:
            continue
        parts = {"client": v["cpu_us"]}
        if key == "loopback":
            if "server_cpu_us" in v:
                parts["products"] = v["server_cpu_us"]
            if "softirq_us" in v:
                parts["irq"] = v["softirq_us"]
        f = {"cpu1": sum(parts.values()), "mean": v["real_us"], "parts1": parts,
             "p50": v.get("p50_us"), "p99": v.get("p99_us")}
        if key != "loopback":
            f["cpu16"] = f["cpu1"]  # in process: no connection, nothing to batch
        elif "server_cpu_us" not in v:
            # An older shop-bench-products: the caller's CPU only, which is not the step's cost; no increments.
            f["partial"] = ("this shop-bench-products has no `server_cpu_us` counter (built before the ladder): "
                            "its CPU is the caller's only, and no increment is taken over it")
            f["caller_only"], f["cpu1"] = f["cpu1"], None
        out[key] = f
    for key, per in (results.get("ladder") or {}).get("runs", {}).items():
        f = {}
        for c in CONNS:
            runs = per.get(str(c), [])
            if not runs:
                continue
            f[f"cpu{c}"] = statistics.median(per_request_us(r) for r in runs)
            parts = {"client": statistics.median(r["wrk_cpu_s"] / r["requests"] * 1e6 for r in runs)}
            for proc in runs[0]["cpu_by_proc"]:
                parts[proc] = statistics.median(r["cpu_by_proc"][proc] / r["requests"] * 1e6 for r in runs)
            parts["irq"] = statistics.median(r["irq_s"] / r["requests"] * 1e6 for r in runs)
            f[f"parts{c}"] = parts
            if c == 1:
                f["p50"] = statistics.median(r["p50_ms"] for r in runs) * 1000
                f["p99"] = statistics.median(r["p99_ms"] for r in runs) * 1000
                f["mean"] = statistics.median(r["mean_ms"] for r in runs) * 1000
        if f:
            out[key] = f
    return out


def failures(results):
    """(where, why) for every ladder run with an error and every step that should have run and did not."""
    L = results.get("ladder")
    if not L:
        return []
    out = list(L.get("errors", []))
    for key, per in L.get("runs", {}).items():
        w = per.get("warmup")
        if w and w["errors"]:
            out.append((f"{LABELS[key]}, warm-up", f"{w['errors']} error(s): {w['error_detail']}"))
        for c in CONNS:
            for i, r in enumerate(per.get(str(c), [])):
                if r["errors"]:
                    out.append((f"{LABELS[key]}, {c} connection(s), run {i + 1}",
                                f"{r['errors']:,} error(s) in {r['requests']:,} requests: " + ", ".join(
                                    f"{k} {v:,}" for k, v in r["error_detail"].items() if v)))
    # One line each (the full text, logs included, stays in results.json).
    return [(w, re.sub(r";? log[^:]*:$", "", str(y).strip().splitlines()[0] if str(y).strip() else "?")) for w, y in out]


def _us(v):
    if v is None:
        return "–"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _inc(a, b):
    if a is None or b is None:
        return "–"
    d = a - b
    return f"{'+' if d >= 0 else '−'}{_us(abs(d))}"


def report_section(results):
    L = results.get("ladder")
    if not L:
        return []
    cfg, rc = L["config"], results["config"]
    F = figures(results)
    md = ["## Cost ladder: one GetProduct\n"]
    md.append(f"What one `GetProduct` costs as it crosses one more boundary per step. *CPU µs / req*: the CPU of "
              f"everything involved per request: the client (the benchmark process in steps 1–3, wrk in 3b–6), "
              f"every server process on the request's path (shop-products; shop-gateway in step 4) and the kernel's "
              f"irq+softirq time on the server core (CPU {rc['server_cpus']}) and the client's (CPU {rc['wrk_cpus']}), "
              f"where with IRQ time accounting the network receive work is charged rather than to a process. "
              f"At 1 connection every request waits for the one before (each one a wake-up on both sides); at 16 "
              f"the server core is saturated and wake-ups are shared. *p50 / p99*: latency at 1 connection (steps 1–2: "
              f"the mean: timing each sub-microsecond call would cost more than the call). *+*: the increment over "
              f"the step named in *over*. Steps 1–3 are shop-bench-products' cases (table above); 3b–6 are wrk "
              f"(`product` workload, random ids over {cfg['products']:,} products seeded through the API, as the "
              f"micro-benchmark seeds them) in one interleaved block: {cfg['repeats']} repeat(s) of "
              f"{cfg['duration']} s per target and connection count, every target back to back, median; server "
              f"processes pinned to CPU {rc['server_cpus']}, wrk to CPU {rc['wrk_cpus']}, every process logging "
              f"at `warn` (no request log lines), `--nats-url off` with static URLs (no registry traffic).\n")
    md.append("| step | what is crossed | CPU µs / req, 1 conn | CPU µs / req, 16 conns | p50 µs | p99 µs | over | "
              "+ CPU, 1 conn | + CPU, 16 conns | + p50 |")
    md.append("|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for key, label, what, over in STEPS:
        f = F.get(key)
        if not f:
            why = L["skipped"].get(key) or ("see the failures" if any(w.startswith(LABELS[key]) for w, _ in
                                                                       failures(results)) else
                                            (results.get("micro") or {}).get("skipped") or "not measured")
            md.append(f"| {label} | {what} | *skipped: {why}* | | | | | | | |")
            continue
        o = F.get(over, {}) if over else {}
        p50 = f.get("p50") if f.get("p50") is not None else f.get("mean")
        p50_mark = "" if f.get("p50") is not None else " (mean)"
        op50 = o.get("p50") if o.get("p50") is not None else o.get("mean")
        cpu1 = _us(f.get("cpu1")) if "caller_only" not in f else f"caller only: {_us(f['caller_only'])}"
        md.append(f"| {label} | {what} | {cpu1} | {_us(f.get('cpu16'))} | {_us(p50)}{p50_mark} | "
                  f"{_us(f.get('p99'))} | {over and LABELS[over].split('.')[0] or ''} | "
                  f"{_inc(f.get('cpu1'), o.get('cpu1')) if over else ''} | "
                  f"{_inc(f.get('cpu16'), o.get('cpu16')) if over else ''} | "
                  f"{_inc(p50, op50) if over else ''} |")
    md.append("")
    md.append("Where the CPU per request goes, µs (1 connection / 16 connections):\n")
    md.append("| step | client | shop-gateway | shop-products | irq + softirq | total |")
    md.append("|---|---:|---:|---:|---:|---:|")
    for key, label, _, _ in STEPS:
        f = F.get(key)
        if not f:
            continue

        def cell(part):
            vals = [f.get(f"parts{c}", {}).get(part) for c in CONNS]
            if key in ("inproc", "pipeline"):
                vals = vals[:1]
            return " / ".join(_us(v) for v in vals) if any(v is not None for v in vals) else "–"

        md.append(f"| {label} | {cell('client')} | {cell('gateway')} | {cell('products')} | {cell('irq')} | "
                  + " / ".join(_us(f.get(f"cpu{c}")) for c in (CONNS[:1] if key in ("inproc", "pipeline") else CONNS))
                  + " |")
    md.append("")
    for key, f in F.items():
        if f.get("partial"):
            md.append(f"> {LABELS[key]}: {f['partial']}.\n")
    for key in ("compose", "swarm"):
        if key in L["skipped"] and key not in F:
            md.append(f"> {LABELS[key]}: skipped: {L['skipped'][key]}.\n")
    runs = [r for per in L.get("runs", {}).values() for c in CONNS for r in per.get(str(c), [])]
    if runs:
        others = [r.get("foreign_core_share") or 0 for r in runs]
        steal = [r.get("steal_share") or 0 for r in runs]
        md.append(f"Fairness of steps 3b–6 ({len(runs)} runs): other processes took a median {statistics.median(others):.0%} "
                  f"of the server core (worst {max(others):.0%}), steal {statistics.median(steal):.0%} (worst "
                  f"{max(steal):.0%}). The irq+softirq column is the whole of both cores' kernel time, so traffic of "
                  f"other processes on them lands there too: on a busy machine it overstates, and its increments "
                  f"are the steadier figure.\n")
    md.append("### Reading\n")
    md.append(reading(F, L))
    md.append("")
    return md


def reading(F, L):
    out = []

    def inc(a, b, k="cpu1"):
        return F[a][k] - F[b][k] if a in F and b in F and F[a].get(k) is not None and F[b].get(k) is not None else None

    if "inproc" in F:
        out.append(f"- **1. In process** ({F['inproc']['cpu1']:.2f} µs): a virtual call into the module, a lookup "
                   f"in its product cache (every id is a hit after the first pass) and a copy of the product. No "
                   f"serialisation, no system call.")
    d = inc("pipeline", "inproc")
    if d is not None:
        out.append(f"- **2. The HTTP pipeline without a socket** (+{d:.2f} µs): what every HTTP request pays before "
                   f"and after the module: matching the route, the handler's parameter parsing, encoding the product "
                   f"as JSON, the response headers, a request id, metrics. Still no system call.")
    lb = F.get("loopback")
    if lb:
        p = lb["parts1"]
        d = inc("loopback", "pipeline")
        s = (f"- **3. Loopback to another process** ("
             + (f"+{d:.1f} µs CPU, " if d is not None else "")
             + f"latency p50 {lb['p50'] if lb.get('p50') is not None else lb['mean']:.0f} µs): the request is written "
             f"to a socket and read out of one on each side (send and receive system calls, TCP over the loopback "
             f"device, a wake-up of the server's I/O thread and then of the caller), the server runs step 2, and the "
             f"client parses the response and decodes the JSON. Split: caller {p.get('client', 0):.1f}")
        if lb.get("partial"):
            s += " µs; the server's and the kernel's shares are not measured by this build's micro-benchmark."
        else:
            s += f", shop-products {p.get('products', 0):.1f}, irq+softirq {p.get('irq', 0):.1f} µs."
        out.append(s)
    if "direct" in F and F["direct"].get("cpu1") is not None:
        a, lbp = F["direct"], (F.get("loopback") or {}).get("parts1", {})
        d = inc("direct", "loopback")
        s = (f"- **3b. The same boundary with wrk as the client**: {a['cpu1']:.1f} µs CPU at 1 connection, p50 "
             f"{a['p50']:.0f} µs")
        if d is not None:
            s += (f" ({d:+.1f} µs against step 3: a different client, which does not decode the JSON; but "
                  f"shop-products itself spends {a['parts1'].get('products', 0):.1f} µs per request here against "
                  f"{lbp.get('products', 0):.1f} there, for the same requests: the difference is probably less in "
                  f"work done than in how the two clients' exchanges are timed, i.e. how often each side's thread "
                  f"sleeps and is woken; not investigated further)")
        s += "."
        if a.get("cpu16") is not None:
            s += (f" At 16 connections {a['cpu16']:.1f} µs: with the server core saturated a thread wake-up and an "
                  f"`epoll_wait` serve several requests, which at 1 connection each request pays alone; the "
                  f"difference ({a['cpu1'] - a['cpu16']:.0f} µs) is mostly going to sleep and being woken on both "
                  f"sides (on a virtual machine a wake-up across cores is an interrupt the hypervisor delivers).")
        out.append(s + " Steps 4–6 are measured against this one.")
    def part(key, conns, name):
        return F.get(key, {}).get(f"parts{conns}", {}).get(name)

    def deltas(key, over):
        """"+12.3 µs CPU at 1 connection, +4.5 at 16, p50 +30 µs, against 3b" from what was measured."""
        bits = []
        for c in CONNS:
            d = inc(key, over, f"cpu{c}")
            if d is not None:
                bits.append(f"{d:+.1f} µs CPU at {c} connection{'s' if c > 1 else ''}")
        d = inc(key, over, "p50")
        if d is not None:
            bits.append(f"p50 {d:+.0f} µs")
        return ", ".join(bits) + f", against {LABELS[over].split('.')[0]}"

    def irq_vs(key, over):
        a, b = part(key, 1, "irq"), part(over, 1, "irq")
        return (f" (irq+softirq {a:.1f} against {b:.1f} µs per request at 1 connection)"
                if a is not None and b is not None else "")

    if "gateway" in F and "direct" in F:
        gw = part("gateway", 16, "gateway") or part("gateway", 1, "gateway")
        out.append(f"- **4. Through the gateway** ({deltas('gateway', 'direct')}): a second full HTTP exchange. The "
                   f"gateway parses the request, runs its own pipeline (route match, edge checks, request id, "
                   f"metrics), writes the request to its pooled connection to shop-products, waits for the answer, "
                   f"parses it and writes it back: a server's work and a client's"
                   + (f" ({gw:.1f} µs of gateway CPU per request)" if gw is not None else "")
                   + ". Two sockets per request instead of one, so twice the system calls, wake-ups and loopback "
                   f"TCP receive work" + irq_vs("gateway", "direct") + "; the latency adds a round trip.")
    if "compose" in F and "direct" in F:
        nf = (L.get("docker") or {}).get("bridge_nf_call_iptables", "?")
        out.append(f"- **5. Container to container on a compose network** ({deltas('compose', 'direct')}; same "
                   f"executables, same client, same pinning): the processes do the same work; the packets take a "
                   f"longer way through the kernel. Each one leaves the client's network namespace through a veth "
                   f"pair, crosses the project's Linux bridge in the host's namespace (`bridge-nf-call-iptables` = "
                   f"{nf}: through iptables' FORWARD chain, Docker's rules and conntrack) and enters the products "
                   f"container's namespace through its veth; loopback instead hands the packet to the receiving "
                   f"socket within one namespace. No NAT and no userland proxy: nothing is published, the client "
                   f"uses the container's address from Docker's DNS (resolved once, when wrk starts). That work runs "
                   f"in the senders' system time and in softirq" + irq_vs("compose", "direct") + ".")
    if "swarm" in F and "compose" in F:
        out.append(f"- **6. Swarm task to task** ({deltas('swarm', 'compose')}): `endpoint_mode: dnsrr`, so `products` "
                   f"resolves to the task's own address (no virtual IP, no IPVS). On one node the two tasks' overlay "
                   f"interfaces are veths on the overlay network's bridge, inside the overlay's own namespace: the same "
                   f"kind of hop as step 5, but through a namespace without iptables rules where step 5's bridge is in the host's, "
                   f"with Docker's FORWARD chain"
                   + irq_vs("swarm", "compose") + ". VXLAN encapsulation (an outer UDP/IP header, a second pass "
                   f"through the stack, a 50-byte smaller MTU) happens only between nodes: a one-node swarm cannot "
                   f"price it, and what is measured here is bridge against bridge, within the noise.")
    if not out:
        out.append("- Nothing measured.")
    return "\n".join(out) + "\n"


def summary_lines(results):
    F = figures(results)
    out = []
    for key, label, _, _ in STEPS:
        f = F.get(key)
        if f:
            p50 = f.get("p50") if f.get("p50") is not None else f.get("mean")
            cpu1 = _us(f.get("cpu1")) if "caller_only" not in f else f"(caller only) {_us(f['caller_only'])}"
            out.append(f"ladder {label}: {cpu1} µs CPU/req at 1 conn, {_us(f.get('cpu16'))} at 16; "
                       f"p50 {_us(p50)} µs, p99 {_us(f.get('p99'))} µs")
    return out
