#!/usr/bin/python3
"""The driver behind bench/run.sh: runs both layouts of shop under identical wrk load and writes
a Markdown report, a chart and the raw figures. Stdlib only (plus matplotlib or gnuplot for the
chart). See bench/README.md; run it through bench/run.sh, which builds what is needed.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import events as ev  # bench/lib/events.py: the events section
import ladder  # bench/lib/ladder.py: the cost ladder of one GetProduct
import peer  # bench/lib/peer.py: the peer row (Moleculer)

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(BENCH)
LUA = os.path.join(BENCH, "wrk", "workload.lua")
SEEDER = os.path.join(HERE, "seed.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")
ADMIN_EMAIL, ADMIN_PASSWORD = "bench-admin@bench.example", "bench-admin-password"
MARKER = "SHOP_BENCH_RUN"  # set in every child's environment; run.sh's last-resort cleanup looks for it

WORKLOADS = [  # (key, label)
    ("health", "GET /health/live (reference)"),
    ("product", "GET /products/{id}"),
    ("list", "GET /products?limit=20"),
    ("order", "POST /orders"),
    ("mix", "mix 90% reads / 10% orders"),
]
LABEL = dict(WORKLOADS)
SPLIT_EXES = ["shop-users", "shop-products", "shop-orders", "shop-gateway"]
# Layouts in report order. The first three keep their data in SQLite files (the main table); the scaled ones
# ("Scaled out (PostgreSQL)") keep it in one PostgreSQL server started for the layout, one database per module.
BASE_LAYOUTS = ["monolith", "split", "split2"]
SCALED_LAYOUTS = ["monolith-pg", "monolith-pg2", "split-pg", "split2-pg"]
LAYOUTS = BASE_LAYOUTS + SCALED_LAYOUTS
# For the split ones, how many instances of each service (a service not named: one).
SPLIT_REPLICAS = {"split": {"products": 1}, "split2": {"products": 2}, "split-pg": {},
                  "split2-pg": {"products": 2, "orders": 2}}
SPLIT_PRODUCTS = {n: r.get("products", 1) for n, r in SPLIT_REPLICAS.items()}
# For the monolith ones, how many shop processes (two: behind nginx as a plain round-robin proxy).
MONOLITH_REPLICAS = {"monolith": 1, "monolith-pg": 1, "monolith-pg2": 2}
PG_LAYOUTS = set(SCALED_LAYOUTS)
# The quick run's scaled layouts (CI): one of each kind with replicas, so that none of the code paths rots.
QUICK_SCALED = ["monolith-pg2", "split2-pg"]
# The ratio rows of the tables: (numerator, denominator).
RATIOS = [("split", "monolith"), ("split2", "split")]
COLOR = {"monolith": "#3b6ea8", "split": "#d9822b", "split2": "#6a9f3a"}
PG_SERVER_SH = os.path.join(REPO, "tests", "support", "pg_server.sh")
INIT_SQL = os.path.join(REPO, "split", "postgres", "init.sql")
PG_BIN = "/usr/lib/postgresql/15/bin"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Stop(BaseException):
    """SIGTERM or SIGHUP: like KeyboardInterrupt, not an Exception, so that no `except Exception` swallows it."""


def on_sigterm(signum, frame):
    raise Stop(f"signal {signum}")


# ---------------------------------------------------------------------------------------------
# Processes


class Procs:
    """Every process this run starts, so that all of them are stopped whatever happens."""

    def __init__(self, work):
        self.work = work
        self.all = []
        # No SHOP_* settings from the caller's environment (SHOP_HOST, SHOP_THREADS, SHOP_LOG_LEVEL...) may
        # change what is measured; each process gets exactly the flags written here.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}
        self.env[MARKER] = work

    def start(self, name, argv, cpus=None, log_path=None, env=None, cwd=None):
        if cpus is not None:
            argv = ["taskset", "-c", cpus] + argv  # taskset execs: the pid is the program's
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=dict(self.env, **(env or {})), cwd=cwd)
        if log_path:
            out.close()
        p.bench_name = name
        p.bench_log = log_path
        self.all.append(p)
        return p

    def stop(self, procs, grace=15.0):
        # Processes this run did not start with Popen (the PostgreSQL server, nginx's worker) stop their own way,
        # after everything else: the services close their database connections first.
        own = [p for p in procs if hasattr(p, "bench_stop")]
        if own:
            self.stop([p for p in procs if p not in own], grace)
            for p in own:
                p.bench_stop()
            return
        # Platform processes (nats-server) last: the services deregister on their way out.
        last = [p for p in procs if getattr(p, "bench_stop_last", False)]
        if last:
            self.stop([p for p in procs if p not in last], grace)
            procs = last
        procs = [p for p in procs if p.poll() is None]
        for p in procs:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{p.bench_name} (pid {p.pid}) did not stop in {grace:.0f} s; killing it")
                p.kill()
                p.wait()

    def stop_all(self):
        self.stop(self.all, grace=12.0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=1.0):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body
    except (OSError, http.client.HTTPException):
        return None, b""


LISTENING = re.compile(rb'"msg":"listening".*?"port":(\d+)')
NATS_LISTENING = re.compile(rb"Listening for client connections on 127\.0\.0\.1:(\d+)")
REGISTERED = re.compile(rb'"msg":"registered"')


def log_match(log_path, pattern):
    try:
        with open(log_path, "rb") as f:
            return pattern.search(f.read(65536))
    except FileNotFoundError:
        return None


def wait_listening(proc, log_path, timeout=20.0, pattern=LISTENING, what="'listening'"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.bench_name} exited with {proc.returncode} before logging {what}; "
                               f"log {log_path}:\n" + tail(log_path))
        m = log_match(log_path, pattern)
        if m:
            return int(m.group(1))
        time.sleep(0.005)
    raise RuntimeError(f"{proc.bench_name} did not log {what} within {timeout:.0f} s; log {log_path}:\n"
                       + tail(log_path))


def wait_ready(port, procs, path="/health/ready", timeout=30.0, registered=None):
    """Until `path` answers 200 and, for split layouts, every (process, log) in `registered` has logged
    "registered" (its entry is in the NATS registry), as split/run-local.sh waits."""
    deadline = time.monotonic() + timeout
    pending = list(registered or [])
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.bench_name} exited with {p.returncode} before ready; log:\n"
                                   + tail(getattr(p, "bench_log", "") or ""))
        pending = [(p, lp) for p, lp in pending if not log_match(lp, REGISTERED)]
        if not pending:
            status, _ = http_get(port, path, timeout=0.5)
            if status == 200:
                return
        time.sleep(0.01)
    what = f"{path} 200" + (f" and 'registered' from {', '.join(p.bench_name for p, _ in pending)}" if pending else "")
    raise RuntimeError(f"not ready ({what}) within {timeout:.0f} s")


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode(errors="replace")
    except OSError:
        return ""


def all_tasks(pid):
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return []


def set_affinity(pids, cpus):
    """Moves every thread of every process to `cpus` (threads made later inherit it)."""
    for pid in pids:
        for tid in all_tasks(pid):
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:
                pass


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(d))
            except (OSError, IndexError):
                pass
    return out


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of stat)


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss(pids):
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
        except OSError:
            return False
    return True


def cores_ticks(cpus):
    """Ticks of these CPUs since boot, from /proc/stat: {"busy": user+nice+system, "idle": idle+iowait,
    "irq": irq+softirq (with IRQ time accounting, the kernel's network receive work, charged to no process),
    "steal": taken by the hypervisor}."""
    t = {"busy": 0, "idle": 0, "irq": 0, "steal": 0}
    with open("/proc/stat") as f:
        for line in f:
            name, *v = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                v = [int(x) for x in v] + [0] * 8
                t["busy"] += v[0] + v[1] + v[2]
                t["idle"] += v[3] + v[4]
                t["irq"] += v[5] + v[6]
                t["steal"] += v[7]
    return t


def others_on(cpus, exclude):
    """{pid: (name, CPU ticks)} of every process, kernel threads included, that may run on one of `cpus`, except
    `exclude`: who else could take the server core. Races with exiting processes are ignored."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in exclude:
            continue
        try:
            if not os.sched_getaffinity(int(d)) & cpus:
                continue
            with open(f"/proc/{d}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
            fields = rest.split()
            out[int(d)] = (head.split("(", 1)[1], int(fields[11]) + int(fields[12]))
        except (OSError, IndexError, ValueError):
            pass
    return out


def top_others(before, after, wall, n=3):
    """The `n` processes of others_on() that used the most CPU between two readings: [(name, share of a core)]."""
    used = [(after[p][0], (after[p][1] - before.get(p, (None, 0))[1]) / CLK_TCK) for p in after]
    used = sorted((x for x in used if x[1] > 0), key=lambda x: -x[1])[:n]
    return [(name, round(sec / wall, 3)) for name, sec in used] if wall else []


def cpu_list(cpus):
    return ",".join(str(c) for c in sorted(cpus))


# ---------------------------------------------------------------------------------------------
# Layouts


class Layout:
    """A running layout: its processes (the ones measured) and the public port."""

    def __init__(self, name, procs, port, ready_s, logs, public_log):
        self.name, self.procs, self.port, self.ready_s = name, procs, port, ready_s
        self.logs, self.public_log = logs, public_log

    @property
    def pids(self):
        """Every process of the layout: its processes and, for the PostgreSQL server, each backend and worker
        alive now (pinned, excluded from "others", seeding's affinity)."""
        out = []
        for p in self.procs:
            out += p.bench_pids() if hasattr(p, "bench_pids") else [p.pid]
        return out

    def check_alive(self):
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.bench_name} exited with {p.returncode} during the run; log:\n"
                                   + tail(self.logs.get(p.bench_name, "")))


def start_monolith(P, args, data_dir, threads=None, name="monolith", proc="shop", pg=None):
    """One shop process; with `pg` (a PgServer), its three modules keep their data in pg's databases users,
    products and orders (SHOP_*_DATABASE_URL), each module as its own role, as the split services do."""
    os.makedirs(data_dir, exist_ok=True)
    log_path = f"{data_dir}{'-t' + str(threads) if threads else ''}{'' if proc == 'shop' else '-' + proc}.log"
    argv = [os.path.join(args.bin_dir, "shop"), "--host", "127.0.0.1", "--port", "0", "--data-dir", data_dir]
    env = {"SHOP_ADMIN_EMAIL": ADMIN_EMAIL, "SHOP_ADMIN_PASSWORD": ADMIN_PASSWORD}
    if pg:  # in the environment, not on the command line, where `ps` would show the passwords
        env.update({f"SHOP_{m.upper()}_DATABASE_URL": pg.url(m) for m in ("users", "products", "orders")})
    threads = threads or args.server_threads
    if threads:
        argv += ["--threads", str(threads)]
    t0 = time.monotonic()
    p = P.start(proc, argv, cpus=args.server_cpus, log_path=log_path, env=env)
    try:
        port = wait_listening(p, log_path)
        wait_ready(port, [p])
    except Exception:
        P.stop([p])
        raise
    return Layout(name, [p], port, time.monotonic() - t0, {proc: log_path}, log_path)


def start_monolith_replicas(P, args, data_dir, name, n, pg):
    """`n` shop processes on the same PostgreSQL databases behind nginx, a plain round-robin HTTP proxy (one
    worker, keep-alive to both), all pinned to the server core(s). They share DATA_DIR too, for its signing key:
    a token one of them signed must verify on the other. The first is ready (migrations applied, key written)
    before the second starts."""
    t0 = time.monotonic()
    shops, logs = [], {}
    try:
        for i in range(1, n + 1):
            one = start_monolith(P, args, data_dir, name=name, proc=f"shop{i}", pg=pg)
            shops.append(one)
            logs.update(one.logs)
        lb = start_nginx(P, args, upstreams=[one.port for one in shops])
    except Exception:
        P.stop([p for one in shops for p in one.procs])
        raise
    procs = [p for one in shops for p in one.procs] + lb.procs
    logs.update(lb.logs)
    layout = Layout(name, procs, lb.port, time.monotonic() - t0, logs, [one.public_log for one in shops])
    layout.prefix = lb.prefix
    return layout


def start_split(P, args, data_dir, name="split", replicas=None, pg=None):
    """The layout as split/run-local.sh --replicas products=N,orders=M starts it, without its log tail|sed
    pipeline: nats-server (JetStream, data in DATA_DIR/nats, a free port read from its log), then users, the
    products instances (sharing DATA_DIR/products), the orders instances and the gateway, every one with
    --nats-url and no URL of another service: they find each other through the registry. With `pg` (a
    PgServer) each service keeps its data in its own database there (SHOP_DATABASE_URL, as its own role). Ready
    when the gateway's /health/ready answers 200 and every instance has logged "registered"."""
    replicas = replicas or {}
    b = args.bin_dir
    started, logs = [], {}
    base = os.path.join(os.path.dirname(data_dir), os.path.basename(data_dir))

    def start(proc, argv, env=None, threads=True):
        if threads and args.server_threads:
            argv = argv + ["--threads", str(args.server_threads)]
        service = proc.rstrip("0123456789")
        if pg and service in ("users", "products", "orders"):  # in the environment: `ps` shows command lines
            env = dict(env or {}, SHOP_DATABASE_URL=pg.url(service))
        logs[proc] = f"{base}-{proc}.log"
        p = P.start(proc, argv, cpus=args.server_cpus, log_path=logs[proc], env=env)
        started.append(p)
        return p

    for d in ("users", "products", "orders", "nats"):
        os.makedirs(os.path.join(data_dir, d), exist_ok=True)
    # Service identities as run-local.sh hands them out: split/make-secrets.sh into DATA_DIR/secrets.
    secrets = os.path.join(data_dir, "secrets")
    subprocess.run([os.path.join(REPO, "split", "make-secrets.sh"), secrets], check=True)
    t0 = time.monotonic()
    try:
        # Part of the platform, so part of the layout: pinned, measured and reported like the services.
        nats = start("nats", [args.nats_server, "-js", "-sd", os.path.join(data_dir, "nats"), "-a", "127.0.0.1",
                              "-p", "-1"], threads=False)
        nats.bench_stop_last = True
        nats_url = "nats://127.0.0.1:%d" % wait_listening(nats, logs["nats"], pattern=NATS_LISTENING,
                                                           what="its client port")
        common = ["--host", "127.0.0.1", "--port", "0", "--nats-url", nats_url]

        def db(service):
            return ["--data-dir", f"{data_dir}/{service}"]

        start("users", [f"{b}/shop-users"] + common + db("users") + ["--service-credentials-dir", secrets],
              env={"SHOP_ADMIN_EMAIL": ADMIN_EMAIL, "SHOP_ADMIN_PASSWORD": ADMIN_PASSWORD})
        n = replicas.get("products", 1)
        for i in range(1, n + 1):
            start("products" if n == 1 else f"products{i}", [f"{b}/shop-products"] + common + db("products"))
        n = replicas.get("orders", 1)
        for i in range(1, n + 1):
            start("orders" if n == 1 else f"orders{i}", [f"{b}/shop-orders"] + common + db("orders"),
                  env={"SHOP_SERVICE_SECRET_FILE": os.path.join(secrets, "orders")})
        gateway = start("gateway", [f"{b}/shop-gateway"] + common)
        port = wait_listening(gateway, logs["gateway"])
        wait_ready(port, started, timeout=60.0,
                   registered=[(p, logs[p.bench_name]) for p in started if p is not nats])
    except Exception:
        P.stop(started)
        raise
    layout = Layout(name, started, port, time.monotonic() - t0, logs, logs["gateway"])
    layout.nats_url = nats_url
    return layout


class Pid:
    """A process this run did not start itself (nginx's worker) but measures."""

    def __init__(self, pid, name):
        self.pid, self.bench_name = pid, name

    def poll(self):
        return None if os.path.exists(f"/proc/{self.pid}") else 0

    def bench_stop(self):
        pass  # its parent (nginx's master) stops it


def pg_installed():
    return all(os.access(os.path.join(PG_BIN, x), os.X_OK) for x in ("initdb", "postgres", "pg_isready", "psql"))


class PgServer:
    """A PostgreSQL 15 server for one start of a layout, through tests/support/pg_server.sh (as the PostgreSQL
    tests start theirs): initdb in a fresh directory under the run's work dir, loopback only, a free port, as
    `nobody` when run as root, durability off; stopped and removed with the layout (and by the script's
    watchdog should this driver die). Started under taskset, so the postmaster and every backend it forks run
    on the server core(s) like the services. split/postgres/init.sql makes the roles and databases users,
    products, orders (one per module), as for the split services in production. With pg_stat_statements
    preloaded (when installed) for the statements-per-request figures.

    Measured as one process of the layout, "postgres": the postmaster and all its children (backends, the
    checkpointer, WAL writer, autovacuum...). Its CPU is the live children's utime+stime plus the postmaster's
    own and its cutime+cstime, which hold the children it has reaped, so backends that come and go are counted."""

    bench_name = "postgres"
    no_rss = True  # shared buffers are in every backend's RSS: a sum would count them many times

    def __init__(self, P, args):
        self.dir = None
        t0 = time.monotonic()
        self.pgss = os.path.exists("/usr/lib/postgresql/15/lib/pg_stat_statements.so")
        options = "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top" if self.pgss else ""
        env = dict(P.env, TMPDIR=args.work, PG_SERVER_OPTIONS=options)
        out = subprocess.run(["taskset", "-c", args.server_cpus, "bash", PG_SERVER_SH, "start", "--owner",
                              str(os.getpid())], capture_output=True, text=True, env=env, timeout=120,
                             stdin=subprocess.DEVNULL)
        v = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        self.dir = v.get("PG_SERVER_DIR")
        if out.returncode != 0 or not v.get("PG_SERVER_PID"):
            self.bench_stop()
            raise RuntimeError(f"the PostgreSQL server did not start (exit {out.returncode}): "
                               f"{(out.stderr or out.stdout).strip()[-1500:]}")
        self.pid, self.port, self.superuser_url = int(v["PG_SERVER_PID"]), int(v["PG_SERVER_PORT"]), v["PG_SERVER_URL"]
        self.env = env
        P.all.append(self)  # stopped by Procs.stop_all too (on Ctrl-C, SIGTERM, an error)
        self.passwords = {m: os.urandom(12).hex() for m in ("users", "products", "orders")}
        try:
            self.psql(["-v", "ON_ERROR_STOP=1", "-f", INIT_SQL] +
                      [x for m, pw in self.passwords.items() for x in ("-v", f"{m}_password={pw}")])
            if self.pgss:
                self.psql(["-c", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"])
        except Exception:
            self.bench_stop()
            raise
        self.start_s = time.monotonic() - t0

    def url(self, module):
        return f"postgresql://{module}:{self.passwords[module]}@127.0.0.1:{self.port}/{module}"

    def psql(self, argv):
        out = subprocess.run([os.path.join(PG_BIN, "psql"), self.superuser_url, "-X", "-q", "-A", "-t"] + argv,
                             capture_output=True, text=True, env=dict(self.env, PGCONNECT_TIMEOUT="10"), timeout=60,
                             stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise RuntimeError(f"psql {' '.join(argv[:2])} failed: {out.stderr.strip()[-800:]}")
        return out.stdout

    def statements(self):
        """{database: (statements executed so far, ms spent in pg_advisory_xact_lock)} from pg_stat_statements
        (None without it). The lock is the outbox's (modules/events): every transaction that writes events takes
        it from its first outbox row to its commit, so its time is time waited for other writers."""
        if not self.pgss:
            return None
        rows = self.psql(["-F", " ", "-c", "SELECT d.datname, sum(s.calls), coalesce(sum(s.total_exec_time) FILTER "
                                            "(WHERE s.query LIKE '%pg_advisory_xact_lock%'), 0) "
                                            "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid GROUP BY 1"])
        return {db: (int(n), float(ms)) for db, n, ms in (line.split() for line in rows.splitlines() if line.strip())}

    def sessions(self):
        """{database: sessions (connections) opened so far} from pg_stat_database."""
        rows = self.psql(["-F", " ", "-c", "SELECT datname, sessions FROM pg_stat_database "
                                            "WHERE datname IN ('users', 'products', 'orders')"])
        return {db: int(n) for db, n in (line.split() for line in rows.splitlines() if line.strip())}

    def backends(self):
        """Client backends connected now, by database."""
        rows = self.psql(["-F", " ", "-c", "SELECT datname, count(*) FROM pg_stat_activity WHERE "
                                            "backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1"])
        return {db: int(n) for db, n in (line.split() for line in rows.splitlines() if line.strip())}

    def poll(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return 0 if f.read().rsplit(")", 1)[1].split()[0] == "Z" else None  # a zombie has exited
        except OSError:
            return 0

    def bench_pids(self):
        return [self.pid] + children_of(self.pid)

    def ticks(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        t = sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
        for child in children_of(self.pid):
            try:
                t += cpu_ticks(child)
            except (OSError, IndexError):
                pass  # ended in between: its ticks are in cutime+cstime once reaped
        return t

    def bench_stop(self):
        if self.dir:
            subprocess.run(["bash", PG_SERVER_SH, "stop", self.dir], stdin=subprocess.DEVNULL, timeout=60)
            self.dir = None


def proc_ticks(p):
    return p.ticks() if hasattr(p, "ticks") else cpu_ticks(p.pid)


def start_nginx(P, args, body=None, upstreams=None):
    """nginx, one worker, in the foreground, on a free loopback port, serving `body` as a static file, or (with
    `upstreams`, ports on 127.0.0.1) as a plain HTTP/1.1 proxy taking them in turn (round robin), with idle
    keep-alive connections to them kept for reuse (up to 128 per worker)."""
    prefix = tempfile.mkdtemp(prefix="nginx-", dir=args.work)
    os.chmod(prefix, 0o755)  # a root master runs its worker as nobody, which must read the file (run.sh: work 0711)
    os.makedirs(os.path.join(prefix, "www"))
    if body is not None:
        with open(os.path.join(prefix, "www", "product.json"), "wb") as f:
            f.write(body)
        os.chmod(os.path.join(prefix, "www", "product.json"), 0o644)
    os.chmod(os.path.join(prefix, "www"), 0o755)
    port = free_port()
    if upstreams:
        upstream = ("upstream shop {\n" + "".join(f"    server 127.0.0.1:{u};\n" for u in upstreams)
                    + "    keepalive 128;\n  }")
        location = ("location / { proxy_pass http://shop; proxy_http_version 1.1; "
                    "proxy_set_header Connection \"\"; proxy_set_header Host $host; }")
    else:
        upstream = ""
        location = f"location / {{ root {prefix}/www; default_type application/json; }}"
    conf = f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log {prefix}/access.log combined buffer=64k flush=1s;
  client_body_temp_path {prefix}/client_body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  open_file_cache max=16 inactive=60s;
  open_file_cache_valid 60s;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  {upstream}
  server {{
    listen 127.0.0.1:{port};
    {location}
  }}
}}
"""
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(conf)
    log_path = os.path.join(prefix, "stderr.log")
    t0 = time.monotonic()
    exe = args.nginx_proxy if upstreams else args.nginx
    p = P.start("nginx", [exe, "-p", prefix, "-e", f"{prefix}/error.log", "-c", f"{prefix}/nginx.conf"],
                cpus=args.server_cpus, log_path=log_path)
    try:
        wait_ready(port, [p], path="/health/ready" if upstreams else "/product.json", timeout=10)
    except Exception as e:
        P.stop([p])
        logs = tail(log_path) + tail(prefix + "/error.log")
        shutil.rmtree(prefix, ignore_errors=True)
        raise RuntimeError(f"nginx did not start: {e}\n{logs}")
    procs = [p] + [Pid(child, "nginx-worker") for child in children_of(p.pid)]  # the worker counts too
    layout = Layout("nginx", procs, port, time.monotonic() - t0, {"nginx": log_path}, None)
    layout.prefix, layout.master = prefix, p
    return layout


# ---------------------------------------------------------------------------------------------
# Load


def run_wrk(P, args, layout, workload, conns, seconds, tokens_file, products, measure=True):
    """One wrk run against the layout. measure=False (a warm-up): only wrk's counts and errors are returned, so
    that errors in warm-ups fail the run too."""
    wrk_threads = max(1, min(len(args.wrk_cpu_set), conns))
    argv = ["wrk", f"-t{wrk_threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s", "-s", LUA,
            f"http://127.0.0.1:{layout.port}", "--", workload, str(products), tokens_file, "12345"]
    layout.check_alive()
    pids = layout.pids
    hwm_ok = measure and reset_peak_rss(pids)
    others_before = others_on(args.server_cpu_set, set(pids) | {os.getpid()}) if measure else {}
    before = {pr.bench_name: proc_ticks(pr) for pr in layout.procs}
    threads_before = {pr.pid: ev.thread_cpu(pr.pid) for pr in layout.procs} if measure else {}
    core_before = cores_ticks(args.server_cpu_set)
    wrk_core_before = cores_ticks(args.wrk_cpu_set)
    both_before = cores_ticks(args.server_cpu_set | args.wrk_cpu_set)
    t0 = time.monotonic()
    out_path = os.path.join(args.work, "wrk.out")
    if os.path.exists(out_path):
        os.remove(out_path)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = P.start("wrk", argv, cpus=args.wrk_cpus, log_path=out_path)
    try:
        p.wait(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        P.stop([p], grace=2)
        raise RuntimeError(f"wrk did not finish within {seconds + 30} s")
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped in between
    wrk_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    after = {pr.bench_name: proc_ticks(pr) for pr in layout.procs}
    threads_after = {pr.pid: ev.thread_cpu(pr.pid) for pr in layout.procs} if measure else {}
    core_after = cores_ticks(args.server_cpu_set)
    wrk_core_after = cores_ticks(args.wrk_cpu_set)
    both_after = cores_ticks(args.server_cpu_set | args.wrk_cpu_set)
    others_after = others_on(args.server_cpu_set, set(pids) | set(layout.pids) | {os.getpid()}) if measure else {}
    core = {k: (core_after[k] - core_before[k]) / CLK_TCK for k in core_before}
    wrk_core = {k: (wrk_core_after[k] - wrk_core_before[k]) / CLK_TCK for k in wrk_core_before}
    layout.check_alive()
    text = open(out_path).read() if os.path.exists(out_path) else ""
    m = re.search(r"^BENCH_JSON (\{.*\})$", text, re.M)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed (exit {p.returncode}):\n{text[-2000:]}")
    r = json.loads(m.group(1))
    requests = r["requests"]
    e = r["errors"]
    errors = e["connect"] + e["read"] + e["write"] + e["status"] + e["timeout"]
    if not measure:
        return {"requests": requests, "errors": errors, "error_detail": e}
    cpu_by_proc = {n: (after[n] - before[n]) / CLK_TCK for n in before}
    cpu = sum(cpu_by_proc.values())
    # Per process, CPU by thread name (stat ticks, and schedstat's ns on CPU): the events section's relay figures.
    deltas = {pr.bench_name: ev.thread_cpu_delta(threads_before[pr.pid], threads_after[pr.pid], CLK_TCK)
              for pr in layout.procs}
    hwm = {pr.bench_name: status_kib(pr.pid, "VmHWM") for pr in layout.procs
           if not getattr(pr, "no_rss", False)} if hwm_ok else {}
    n_server, n_wrk = len(args.server_cpu_set), len(args.wrk_cpu_set)
    return {
        "rps": requests / (r["duration_us"] / 1e6),
        "requests": requests,
        "bytes_per_response": r["bytes"] / requests if requests else None,  # status line, headers and body
        "p50_ms": r["latency_us"]["p50"] / 1000, "p90_ms": r["latency_us"]["p90"] / 1000,
        "p99_ms": r["latency_us"]["p99"] / 1000, "p999_ms": r["latency_us"]["p999"] / 1000,
        "mean_ms": r["latency_us"]["mean"] / 1000,
        "cpu_s_per_1k": cpu / requests * 1000 if requests else None,
        "cpu_s": cpu, "cpu_by_proc": cpu_by_proc, "wall_s": wall,
        "cpu_by_thread": {k: v[0] for k, v in deltas.items()}, "sched_by_thread": {k: v[1] for k, v in deltas.items()},
        "cpu_util": cpu / wall if wall else None,
        # Fairness, as shares of the server core(s) over the run's wall time: other processes' user+system time
        # (the core's busy time not the layout's), the kernel's irq+softirq time (network receive work, charged to
        # no process), the hypervisor's steal, and idle (the layout left the core unused: it was not saturated).
        # Either of the first three well above 0 means the machine was not quiet.
        "foreign_core_share": max(0.0, core["busy"] - cpu) / wall / n_server if wall else None,
        "softirq_share": core["irq"] / wall / n_server if wall else None,
        "steal_share": core["steal"] / wall / n_server if wall else None,
        "server_idle_share": core["idle"] / wall / n_server if wall else None,
        "foreign_top": top_others(others_before, others_after, wall),
        # wrk's own CPU (its rusage) and its core's steal: a wrk near 1.0 of its core measures itself.
        "wrk_cores_used": wrk_cpu / wall if wall else None, "wrk_cpu_s": wrk_cpu,
        # irq+softirq seconds on the server's and wrk's cores together (the cost ladder's kernel share).
        "irq_s": (both_after["irq"] - both_before["irq"]) / CLK_TCK,
        "wrk_core_steal_share": wrk_core["steal"] / wall / n_wrk if wall else None,
        "rss_mib": sum(hwm.values()) / 1024 if hwm else None,
        "rss_by_proc_mib": {k: v / 1024 for k, v in hwm.items()},
        "errors": errors,
        "error_detail": e,
    }


METRICS = ["rps", "p50_ms", "p90_ms", "p99_ms", "cpu_s_per_1k", "rss_mib"]
FAIRNESS = ["foreign_core_share", "softirq_share", "steal_share", "server_idle_share", "wrk_cores_used",
            "wrk_core_steal_share"]


def median_of(runs):
    out = {}
    for k in METRICS + ["p999_ms", "cpu_util", "bytes_per_response"] + FAIRNESS:
        vals = [r[k] for r in runs if r.get(k) is not None]
        out[k] = statistics.median(vals) if vals else None
    out["errors"] = sum(r["errors"] for r in runs)
    out["requests"] = sum(r["requests"] for r in runs)
    out["repeats"] = len(runs)
    # per-process CPU (s per 1k requests) and peak memory, medians, for the breakdowns
    names = runs[0]["cpu_by_proc"].keys()
    out["cpu_by_proc_per_1k"] = {n: statistics.median(r["cpu_by_proc"][n] / r["requests"] * 1000 for r in runs
                                                      if r["requests"]) for n in names}
    if runs[0]["rss_by_proc_mib"]:
        out["rss_by_proc_mib"] = {n: statistics.median(r["rss_by_proc_mib"][n] for r in runs)
                                  for n in runs[0]["rss_by_proc_mib"]}
    return out


def measure_workload(P, args, layout, wl, tokens_file, label=None, into=None, warmups=None):
    """One workload on a running layout, as every row of the results table is measured: a warm-up of
    args.warmup s at the highest connection count (discarded), then args.repeats runs of args.duration s at
    each connection count. {"CONNS": {"median": ..., "runs": [...]}}, filled in as runs finish (into `into`, when
    given, so a failure keeps what was measured); also used by the peer row (lib/peer.py)."""
    label = label or layout.name
    out = {} if into is None else into
    warmup = run_wrk(P, args, layout, wl, max(args.conns), args.warmup, tokens_file, args.products, measure=False)
    if warmups is not None:  # checked for errors like the runs (self-checks)
        warmups[wl] = dict(warmup, conns=max(args.conns))
    for c in args.conns:
        runs = []
        for rep in range(args.repeats):
            r = run_wrk(P, args, layout, wl, c, args.duration, tokens_file, args.products)
            runs.append(r)
            log(f"{label} {wl:8s} c={c:<3d} #{rep + 1}: {r['rps']:9.0f} req/s  p99 {r['p99_ms']:7.2f} ms  "
                f"cpu {r['cpu_s_per_1k']:.3f} s/1k  rss {r['rss_mib'] or 0:.1f} MiB  errors {r['errors']}")
        out[str(c)] = {"median": median_of(runs), "runs": runs}
    return out


def seed(P, args, layout, tokens_file):
    all_cpus = cpu_list(os.sched_getaffinity(0) | args.wrk_cpu_set | args.server_cpu_set)
    set_affinity(layout.pids, {int(c) for c in all_cpus.split(",")})  # seeding is not measured: use every core
    try:
        t0 = time.monotonic()
        out = subprocess.run(["/usr/bin/python3", SEEDER, "--url", f"http://127.0.0.1:{layout.port}",
                              "--products", str(args.products), "--users", str(args.users),
                              "--tokens-out", tokens_file, "--admin-email", ADMIN_EMAIL,
                              "--admin-password", ADMIN_PASSWORD, "--connections", "4"],
                             capture_output=True, text=True, timeout=args.seed_timeout,
                             env=dict(P.env))
        if out.returncode != 0:
            raise RuntimeError(f"seeding failed: {out.stderr.strip()[-2000:]}")
        info = json.loads(out.stdout.strip().splitlines()[-1])
        info["wall_s"] = time.monotonic() - t0
        return info
    finally:
        set_affinity(layout.pids, args.server_cpu_set)


def count_statuses(path):
    """Responses by status class from a layout's public request log (the monolith's, or the gateway's): the
    request lines only ("route" then "status"). `/health/ready` lines are counted apart, as "ready 5xx" etc.:
    start-up polls it until it answers 200, so a 503 there is expected. A list of paths: their sums (the shop
    processes behind nginx in monolith-pg2)."""
    counts = {}
    if isinstance(path, list):
        for one in path:
            for k, n in count_statuses(one).items():
                counts[k] = counts.get(k, 0) + n
        return counts
    if not path or not os.path.exists(path):
        return counts
    pat = re.compile(rb'"route":"(/health/ready")?[^,]*,"status":(\d)\d\d')
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            for m in pat.finditer(chunk):
                k = ("ready " if m.group(1) else "") + m.group(2).decode() + "xx"
                counts[k] = counts.get(k, 0) + 1
    return counts


def non_2xx_samples(path, limit=5):
    out = []
    if isinstance(path, list):
        return [x for one in path for x in non_2xx_samples(one, limit)][:limit]
    if not path or not os.path.exists(path):
        return out
    pat = re.compile(rb'"status":[45]\d\d')
    with open(path, "rb") as f:
        for line in f:
            if pat.search(line) and b'"route":"/health/ready"' not in line:
                out.append(line.decode(errors="replace").strip()[:400])
                if len(out) >= limit:
                    break
    return out


def bench_layout(P, args, name, results):
    log(f"=== layout {name}")
    starts, pg_starts = [], []

    def starter(P, args, data):
        # A PostgreSQL layout gets a server of its own, fresh for each start, like a fresh data dir.
        pg = PgServer(P, args) if name in PG_LAYOUTS else None
        try:
            if name in MONOLITH_REPLICAS and MONOLITH_REPLICAS[name] == 1:
                layout = start_monolith(P, args, data, name=name, pg=pg)
            elif name in MONOLITH_REPLICAS:
                layout = start_monolith_replicas(P, args, data, name, MONOLITH_REPLICAS[name], pg)
            else:
                layout = start_split(P, args, data, name, SPLIT_REPLICAS[name], pg)
        except BaseException:
            if pg:
                pg.bench_stop()
            raise
        if pg:
            layout.procs.append(pg)
            layout.pg = pg
            pg_starts.append(pg.start_s)
        return layout

    # Time from start to ready: median over fresh data dirs; the last start is the one measured.
    for i in range(args.repeats):
        data = os.path.join(args.work, f"{name}-data{i}")
        layout = starter(P, args, data)
        starts.append(layout.ready_s)
        log(f"{name}: ready in {layout.ready_s * 1000:.0f} ms"
            + (f" (PostgreSQL server started before, in {pg_starts[-1] * 1000:.0f} ms)" if pg_starts else ""))
        if i < args.repeats - 1:
            P.stop(layout.procs)
            shutil.rmtree(data, ignore_errors=True)
    res = {"ready_s": statistics.median(starts), "ready_runs_s": starts, "workloads": {}, "data_dir": data,
           "processes": [p.bench_name for p in layout.procs]}
    pg = getattr(layout, "pg", None)
    if pg:
        res["pg"] = {"start_s": statistics.median(pg_starts), "pg_stat_statements": pg.pgss, "statements": {},
                     "backends": {}, "max_connections": int(pg.psql(["-c", "SHOW max_connections"]).strip()),
                     "reserved_connections": int(pg.psql(["-c", "SHOW superuser_reserved_connections"]).strip())}
    results["layouts"][name] = res
    try:
        tokens = os.path.join(args.work, f"{name}-tokens.txt")
        log(f"{name}: seeding {args.products} products and {args.users} users")
        res["seed"] = seed(P, args, layout, tokens)
        log(f"{name}: seeded in {res['seed']['wall_s']:.1f} s (product body {res['seed']['product_body_bytes']} bytes)")
        res["idle_rss_mib"] = sum(status_kib(pid, "VmRSS") for pid in layout.pids) / 1024
        for wl, _ in WORKLOADS:
            if wl in args.workloads:
                before = pg.statements() if pg else None
                sessions = pg.sessions() if pg else None
                measure_workload(P, args, layout, wl, tokens, into=res["workloads"].setdefault(wl, {}),
                                 warmups=res.setdefault("warmups", {}))
                if pg:
                    res["pg"]["backends"][wl] = pg.backends()
                    # Connections opened while the workload ran: the services open one per thread on its first
                    # use of the database, so connection set-up (a backend forked, SCRAM authentication, caches
                    # warmed, statements prepared) lands in the runs when the warm-up did not reach every thread.
                    after = pg.sessions()
                    res["pg"].setdefault("sessions", {})[wl] = {db: after.get(db, 0) - sessions.get(db, 0)
                                                                for db in after}
                if before is not None:
                    # Statements per request: everything the server executed while the workload ran (warm-up and
                    # every run: the services' queries, plus the outbox relays' and readiness checks', which are
                    # few), per database, over the requests wrk counted. Read between runs, so not measured.
                    after = pg.statements()
                    n = res["warmups"][wl]["requests"] + sum(r["requests"] for per in res["workloads"][wl].values()
                                                             for r in per["runs"])
                    dbs = [db for db in sorted(set(after) | set(before)) if db in ("users", "products", "orders")]
                    res["pg"]["statements"][wl] = {"requests": n, "per_request": {
                        db: (after.get(db, (0, 0))[0] - before.get(db, (0, 0))[0]) / n for db in dbs if n},
                        "outbox_lock_ms_per_request": {
                        db: (after.get(db, (0, 0))[1] - before.get(db, (0, 0))[1]) / n for db in dbs if n}}
        res["threads"] = {p.bench_name: len(all_tasks(p.pid)) for p in layout.procs if not hasattr(p, "bench_pids")}
        if pg:
            log(f"{name}: PostgreSQL client backends after the workloads: {res['pg']['backends']}")
            for wl, x in res["pg"]["statements"].items():
                log(f"{name}: statements per {wl} request: " +
                    ", ".join(f"{db} {v:.2f}" for db, v in x["per_request"].items()))
        if name in PG_LAYOUTS:
            pass  # the events section runs on the SQLite layouts only (see "Scaled out")
        elif not args.no_events:
            bench_events(args, layout, res, tokens)
            if res["events"].get("skipped"):
                results["notes"].append(f"{name}: events section skipped: {res['events']['skipped']}")
        if name in LOGGING_LAYOUTS and "product" in args.workloads:
            bench_logging(P, args, layout, res, tokens)
    finally:
        P.stop(layout.procs)
    res["public_statuses"] = count_statuses(layout.public_log)
    res["non_2xx_samples"] = non_2xx_samples(layout.public_log)
    res["tokens"] = tokens
    return res


def bench_events(args, layout, res, tokens_file):
    """The events section for a running layout, once its workloads are done: which threads it runs by name,
    then cancel -> stock back samples (lib/events.py) after every outbox has drained. Never raises: what
    went wrong is recorded, and fails the run (ev.failures)."""
    e = res["events"] = {}
    e["threads_by_name"] = ev.threads_by_name({p.bench_name: p.pid for p in layout.procs})
    relays = {proc: by.get(ev.RELAY_THREAD, 0) for proc, by in e["threads_by_name"].items()}
    if layout.name != "monolith" and not any(relays.values()):
        e["skipped"] = ("no service of this build runs an outbox relay (no thread named "
                        f"'{ev.RELAY_THREAD}'): the split layout does not publish events yet, so a cancel's stock "
                        "cannot come back; cancel latency not measured")
        log(f"{layout.name}: events skipped: {e['skipped']}")
        return
    try:
        if layout.name == "monolith":
            ports = [layout.port]
        else:
            ports = []
            for p in layout.procs:
                if p.bench_name not in ("nats", "gateway"):
                    m = log_match(layout.logs[p.bench_name], LISTENING)
                    if not m:
                        raise RuntimeError(f"no 'listening' port in {p.bench_name}'s log")
                    ports.append(int(m.group(1)))
        drained, seconds, backlog = ev.wait_drained(ports, timeout=60.0)
        e["drain"] = {"drained": drained, "seconds": seconds, "backlog": backlog}
        log(f"{layout.name}: outboxes " + (f"drained ({seconds:.1f} s)" if drained else
                                          f"NOT drained after {seconds:.0f} s (backlog {backlog})"))
        with open(tokens_file) as f:
            token = f.readline().strip()
        t0 = time.monotonic()
        e["cancel"] = ev.sample_cancels(layout.port, ADMIN_EMAIL, ADMIN_PASSWORD, token, args.events_samples,
                                        lambda msg: log(f"{layout.name}: {msg}"))
        layout.check_alive()
        s = ev.cancel_summary(e["cancel"])
        log(f"{layout.name}: cancel -> stock back over {s['samples']} samples in {time.monotonic() - t0:.1f} s: "
            f"p50 {s.get('p50_ms', 0):.2f} ms, p99 {s.get('p99_ms', 0):.2f} ms, late {s['late']}, "
            f"not back {s['lost']}, errors {s['errors']}")
    except Exception as x:  # noqa: BLE001 - recorded; fails the run
        e["error"] = str(x)
        log(f"{layout.name}: events section failed: {x}")


LOGGING_LAYOUTS = ("monolith", "split")  # request logging on and off: the two base layouts


def admin_call(port, method, path, body=None):
    """One admin API call through `port` with a fresh admin token; raises unless it answers 200."""
    c = ev.Client(port)
    try:
        status, got, _ = c.call("POST", "/auth/token", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        if status != 200:
            raise RuntimeError(f"admin sign-in: {status}")
        status, got, _ = c.call(method, path, body, got["access_token"])
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {got}")
        return got
    finally:
        c.close()


LOGGING_REPEATS = 3  # runs with logging on, and as many off, even in --quick


def bench_logging(P, args, layout, res, tokens):
    """Request logging's price: GET /products/{id} at 64 connections with `log.level` at `info` (as shipped: a
    line per request) and at `warn` (no request lines), switched through the admin API on the running layout,
    on and off alternating, at least 3 runs each (--quick has 1 repeat elsewhere: a verdict on one pair of 2 s
    runs was noise, once +23% in a CI run where full runs measure 3-7%). After each switch a warm-up of at least
    2 s, unmeasured (the contract gives a change 1 s to reach every process), then the run. `log.level` goes
    back to its default at the end."""
    out = {"on": [], "off": [], "warmups": []}
    res["logging"] = out
    try:
        for i in range(max(args.repeats, LOGGING_REPEATS)):
            order = (("on", "info"), ("off", "warn")) if i % 2 == 0 else (("off", "warn"), ("on", "info"))
            for key, level in order:
                admin_call(layout.port, "PUT", "/admin/config/log.level", {"value": level})
                out["warmups"].append(run_wrk(P, args, layout, "product", 64, max(args.warmup, 2), tokens,
                                              args.products, measure=False))
                r = run_wrk(P, args, layout, "product", 64, args.duration, tokens, args.products)
                out[key].append(r)
                log(f"{layout.name} logging {key:3s} ({level}) c=64 #{len(out[key])}: {r['rps']:9.0f} req/s  "
                    f"cpu {r['cpu_s_per_1k']:.3f} s/1k  errors {r['errors']}")
    finally:
        admin_call(layout.port, "DELETE", "/admin/config/log.level")
    out["on_median"], out["off_median"] = median_of(out["on"]), median_of(out["off"])


DRIFT_LIMIT = 0.15  # logging-on against the main table's row, same workload and process: beyond this, a drift line


def spread_of(runs):
    """max/min - 1 of the runs' req/s: how far runs of one setting on one process differ (0 for fewer than 2)."""
    rates = [r["rps"] for r in runs if r.get("rps")]
    return max(rates) / min(rates) - 1 if len(rates) >= 2 else 0.0


def logging_section(results):
    """The report's "Request logging" section: each base layout's GET /products/{id} with logging on and off."""
    L = results.get("layouts", {})
    rows = [(n, L[n]["logging"]) for n in LOGGING_LAYOUTS if L.get(n, {}).get("logging", {}).get("off_median")]
    if not rows:
        return []
    md = ["### Request logging on and off\n"]
    md.append("`GET /products/{id}`, 64 connections, on the running layout: `log.level` `info` (as shipped, one JSON "
              "line per request: the monolith's, the gateway's and each service's) and `warn` (no request lines), "
              "switched through `PUT /admin/config/log.level` and alternated, each run after a warm-up of at least "
              "2 s. Median of the runs. Target: turning logging off changes the rate by less than 10%.\n")
    md.append("| layout | logging on req/s | off req/s | off/on | CPU s / 1k req on | off | verdict "
              "| main table, same workload, req/s | CPU s / 1k req |")
    md.append("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    drifts = []
    for n, x in rows:
        on, off = x["on_median"], x["off_median"]
        change = off["rps"] / on["rps"] - 1 if on["rps"] else None
        # Runs of one setting on one process that differ by as much as the effect sought cannot resolve it.
        spread = max((spread_of(x.get(k, [])) for k in ("on", "off")), default=0.0)
        if change is None:
            verdict = "—"
        elif abs(change) < 0.10:
            verdict = "meets (< 10%)"
        elif spread >= 0.10:
            verdict = (f"inconclusive: runs of one setting differ by up to {spread:.0%} (the machine's speed drift), "
                       f"as much as the effect sought")
        else:
            verdict = "**misses** (≥ 10%)"

        main = L[n].get("workloads", {}).get("product", {}).get("64", {}).get("median")
        md.append(f"| {n} | {fmt(on['rps'], 'rps')} | {fmt(off['rps'], 'rps')} | "
                  f"{'—' if change is None else f'{change:+.1%}'} | {fmt3(on['cpu_s_per_1k'])} | "
                  f"{fmt3(off['cpu_s_per_1k'])} | {verdict} | {fmt(main['rps'], 'rps') if main else '—'} | "
                  f"{fmt3(main['cpu_s_per_1k']) if main else '—'} |")
        if main and main["rps"] and on["rps"] and abs(on["rps"] / main["rps"] - 1) > DRIFT_LIMIT:
            drifts.append(f"{n} {on['rps'] / main['rps']:.2f}×")
    md.append("")
    if drifts:
        # The "logging on" runs repeat the main table's GET /products/{id} at 64 connections on the same process,
        # as shipped, minutes later: a difference beyond the runs' own spread means the conditions changed.
        md.append(f"**Speed drift within this run:** logging-on runs against the main table's row for the same "
                  f"workload on the same process, minutes apart: {', '.join(drifts)} (limit ±{DRIFT_LIMIT:.0%}). Same "
                  f"process, workload and settings: the conditions changed between the two (this is how the "
                  f"machine's speed drift shows), so ratios of rows measured minutes apart carry that margin.\n")
    return md


def bench_nginx_row(P, args, results):
    """shop --threads 1 and nginx (one worker), each alone on the server core, GET of a product-sized body."""
    mono = results["layouts"].get("monolith")
    if not mono or "seed" not in mono:
        log("nginx reference skipped: the monolith did not run")
        return
    row = {"conns": 64}
    results["nginx"] = row
    layout = start_monolith(P, args, mono["data_dir"], threads=1)
    try:
        row["shop_warmup"] = run_wrk(P, args, layout, "product", 64, args.warmup, mono["tokens"], args.products,
                                     measure=False)
        row["shop_runs"] = [run_wrk(P, args, layout, "product", 64, args.duration, mono["tokens"], args.products)
                            for _ in range(args.repeats)]
        row["shop"] = median_of(row["shop_runs"])
        log(f"shop --threads 1 GET /products/{{id}} c=64: {row['shop']['rps']:.0f} req/s")
    finally:
        P.stop(layout.procs)
    if not args.nginx:
        row["skipped"] = "nginx not found"
        log("nginx reference skipped: nginx not found")
        return
    body = mono["seed"]["product_body"].encode()
    ng = start_nginx(P, args, body)
    try:
        row["body_bytes"] = len(body)
        row["nginx_warmup"] = run_wrk(P, args, ng, "static", 64, args.warmup, mono["tokens"], args.products,
                                      measure=False)
        row["nginx_runs"] = [run_wrk(P, args, ng, "static", 64, args.duration, mono["tokens"], args.products)
                             for _ in range(args.repeats)]
        row["nginx"] = median_of(row["nginx_runs"])
        log(f"nginx static {len(body)} B c=64: {row['nginx']['rps']:.0f} req/s")
        status, got = http_get(ng.port, "/product.json")
        row["nginx_body_ok"] = status == 200 and got == body
    finally:
        P.stop([ng.master])
        shutil.rmtree(ng.prefix, ignore_errors=True)


def run_micro(P, args, exe_name, env=None, timeout=180):
    """Runs one Google Benchmark executable of bin/ on the load generator's core; {"rows": {name: {real_us,
    cpu_us, iterations, counters...}}, "context", "log_tail"} or {"skipped": why}."""
    exe = os.path.join(args.bin_dir, exe_name)
    if exe_name in args.skip_micro:
        return {"skipped": f"{exe_name} did not build"}
    if not os.access(exe, os.X_OK):
        log(f"micro-benchmarks: {exe} not found; skipped")
        return {"skipped": f"{exe} not built (needs libbenchmark-dev and add_subdirectory(bench))"}
    out_json = os.path.join(args.work, f"{exe_name}.json")
    log_path = os.path.join(args.work, f"{exe_name}.log")
    argv = [exe, f"--benchmark_out={out_json}", "--benchmark_out_format=json",
            f"--benchmark_min_time={args.micro_min_time}", f"--benchmark_repetitions={args.micro_repetitions}",
            "--benchmark_report_aggregates_only=true" if args.micro_repetitions > 1 else "--benchmark_report_aggregates_only=false"]
    log(f"micro-benchmarks: {exe_name} " + " ".join(argv[1:]))
    p = P.start(exe_name, argv, cpus=args.wrk_cpus, log_path=log_path, env=env)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        P.stop([p])
        return {"skipped": f"did not finish within {timeout} s", "failed": True}
    text = tail(log_path, 40)
    if not os.path.exists(out_json):
        log(f"micro-benchmarks {exe_name} failed: {text[-1500:]}")
        return {"skipped": f"failed (exit {p.returncode}): {text[-1500:]}", "failed": True}
    data = json.load(open(out_json))
    known = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads", "iterations",
             "real_time", "cpu_time", "time_unit", "aggregate_name", "aggregate_unit", "family_index",
             "per_family_instance_index", "error_occurred", "error_message"}
    rows = {}
    for b in data.get("benchmarks", []):
        name = b.get("run_name", b["name"])
        if args.micro_repetitions > 1 and b.get("aggregate_name") != "median":
            continue
        if b.get("error_occurred"):
            rows[name] = {"error": b.get("error_message", "error")}
            continue
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b.get("time_unit", "ns")]
        rows[name] = {"real_us": b["real_time"] * scale, "cpu_us": b["cpu_time"] * scale,
                      "iterations": b["iterations"]}
        rows[name].update({k: v for k, v in b.items() if k not in known and isinstance(v, (int, float))})
    return {"rows": rows, "context": {k: data.get("context", {}).get(k) for k in
                                      ("library_build_type", "num_cpus", "mhz_per_cpu")},
            "log_tail": text[-800:] if p.returncode else ""}


def bench_micro(P, args, results):
    results["micro"] = run_micro(P, args, "shop-bench-products",
                                 env={"SHOP_BENCH_SERVER_CPUS": args.server_cpus, "SHOP_BENCH_BIN_DIR": args.bin_dir})
    if not args.no_events:
        results["micro_events"] = run_micro(P, args, "shop-bench-events", timeout=120)


# ---------------------------------------------------------------------------------------------
# Report


def fmt(v, kind):
    if v is None:
        return "–"
    if kind == "rps":
        return f"{v:,.0f}"
    if kind == "ms":
        return f"{v:.2f}" if v < 100 else f"{v:.0f}"
    if kind == "cpu":
        return f"{v * 1000:.0f}" if v >= 0.1 else f"{v * 1000:.1f}"  # CPU ms per 1k requests
    if kind == "mib":
        return f"{v:.1f}"
    if kind == "ratio":
        return f"{v:.2f}×"
    return str(v)


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


COLS = [("rps", "req/s", "rps"), ("p50_ms", "p50 ms", "ms"), ("p90_ms", "p90 ms", "ms"), ("p99_ms", "p99 ms", "ms"),
        ("cpu_s_per_1k", "CPU s per 1k req", "cpu"), ("cpu_util", "cores used", "cpu"), ("rss_mib", "peak RSS MiB", "mib")]


def results_table(results):
    L = results["layouts"]
    names = [n for n in BASE_LAYOUTS if n in L and L[n].get("workloads")]
    lines = ["| workload | conns | layout | req/s | p50 ms | p90 ms | p99 ms | CPU s / 1k req | cores used | peak RSS MiB | errors |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for wl, label in WORKLOADS:
        for c in results["config"]["conns"]:
            ms = {n: L[n]["workloads"].get(wl, {}).get(str(c), {}).get("median") for n in names}
            if not any(ms.values()):
                continue
            for n in names:
                m = ms[n]
                if not m:
                    continue
                cells = [fmt(m["rps"], "rps"), fmt(m["p50_ms"], "ms"), fmt(m["p90_ms"], "ms"), fmt(m["p99_ms"], "ms"),
                         fmt3(m["cpu_s_per_1k"]), fmt2(m["cpu_util"]), fmt(m["rss_mib"], "mib"), str(m["errors"])]
                lines.append(f"| {label} | {c} | {n} | " + " | ".join(cells) + " |")
            for num, den in RATIOS:
                if ms.get(num) and ms.get(den):
                    a, b = ms[num], ms[den]
                    cells = [fmt(ratio(a[k], b[k]), "ratio") for k, _, _ in COLS]
                    lines.append(f"| {label} | {c} | **{num}/{den}** | " + " | ".join(cells) + " | |")
    return "\n".join(lines)


def fmt3(v):
    return "–" if v is None else f"{v:.3f}"


def fmt2(v):
    return "–" if v is None else f"{v:.2f}"


def all_runs(results):
    for n, v in results["layouts"].items():
        for wl, per in v.get("workloads", {}).items():
            for c, x in per.items():
                for r in x["runs"]:
                    yield f"{n} {wl} c={c}", r
    for k in ("shop", "nginx"):
        for r in results.get("nginx", {}).get(k + "_runs", []):
            yield f"{k} reference", r
    yield from peer.all_runs(results)


def quietness(results):
    """A warning when other processes (or the hypervisor) took a noticeable share of the server core."""
    runs = list(all_runs(results))
    if not runs:
        return None
    foreign = [r.get("foreign_core_share") or 0 for _, r in runs]
    steal = [r.get("steal_share") or 0 for _, r in runs]
    worst = max(runs, key=lambda x: (x[1].get("foreign_core_share") or 0) + (x[1].get("steal_share") or 0))
    f_med, s_med = statistics.median(foreign), statistics.median(steal)
    text = (f"other processes used {f_med:.0%} of the server core during the median run (worst {max(foreign):.0%}, "
            f"{worst[0]}" + (f": {top_text(worst[1].get('foreign_top'))}" if worst[1].get("foreign_top") else "")
            + f"), hypervisor steal {s_med:.0%} (worst {max(steal):.0%})")
    return text, (f_med + s_med) > 0.05 or (max(foreign) + max(steal)) > 0.25


def top_text(top):
    return ", ".join(f"{name} {share:.0%}" for name, share in (top or []))


def fairness_rows(results):
    """(workload label, conns, layout, median, runs) for every measured row, the nginx reference's included."""
    L = results["layouts"]
    for wl, label in WORKLOADS:
        for c in results["config"]["conns"]:
            for n in LAYOUTS:
                x = L.get(n, {}).get("workloads", {}).get(wl, {}).get(str(c))
                if x:
                    yield label, c, n, x["median"], x["runs"]
    ng = results.get("nginx") or {}
    for k, name in (("shop", "shop --threads 1"), ("nginx", "nginx")):
        if ng.get(k):
            yield ("reference: static file" if k == "nginx" else "reference: GET /products/{id}"), 64, name, ng[k], \
                ng.get(k + "_runs", [])


def fairness(results):
    """The report's "Fairness" section: per row, how the server core's time was shared out during the runs (the
    layout, other processes, the kernel's irq+softirq, the hypervisor's steal, idle) and how busy wrk's core was."""
    rows = list(fairness_rows(results))
    if not rows:
        return []
    cfg = results["config"]
    per_wrk = max(1, len(cfg["wrk_cpus"].split(",")))
    n_server = max(1, len(cfg["server_cpus"].split(",")))

    def pct(v):
        return "–" if v is None else f"{v:.0%}" if v >= 0.01 or v == 0 else "<1%"

    md = ["## Fairness\n"]
    md.append(f"Each run's share of the server core (CPU {cfg['server_cpus']}) over its wall time, from `/proc/stat` "
              f"and the layout's `/proc/PID/stat` (median over the row's runs): *layout*, the layout's processes; "
              f"*others*, every other process (the rest of the core's user+system time); *irq*, the kernel's "
              f"irq+softirq time, mostly the network receive work of the run's own connections (with IRQ time "
              f"accounting it is charged to no process, so it is not in the layout's CPU per request); *steal*, "
              f"taken by the hypervisor; *idle*, left unused: well above 0 the layout was not CPU-bound (it "
              f"waited on round trips: always so at 1 connection). The five add up to about 100%. *wrk* is wrk's "
              f"own CPU over its core(s) (CPU {cfg['wrk_cpus']}), with that core's steal: near 100% the load "
              f"generator was the limit. *others, worst run*: the processes allowed on the server core that used "
              f"the most CPU (on any core) during the row's run with the most *others*.\n")
    others = [r.get("foreign_core_share") or 0 for *_, runs in rows for r in runs]
    idle = [(m.get("server_idle_share") or 0, f"{n} {label} c={c}") for label, c, n, m, _ in rows]
    wrk = [((m.get("wrk_cores_used") or 0) / per_wrk, f"{n} {label} c={c}") for label, c, n, m, _ in rows]
    steal = [max(r.get("steal_share") or 0, r.get("wrk_core_steal_share") or 0) for *_, runs in rows for r in runs]
    if others:
        busy_idle = [x for x in idle if x[0] > 0.10 and not x[1].endswith("c=1")]
        md.append(f"Summary over {len(others)} runs: other processes took a median {statistics.median(others):.0%} of "
                  f"the server core (worst {max(others):.0%}); steal on either core median "
                  f"{statistics.median(steal):.0%} (worst {max(steal):.0%}); wrk used at most "
                  f"{max(w for w, _ in wrk):.0%} of its core ({max(wrk)[1]}). "
                  + ("Server core idle more than 10% above 1 connection: " + ", ".join(
                      f"{w} {v:.0%}" for v, w in busy_idle) + "." if busy_idle else
                     "Above 1 connection the server core was never more than 10% idle: the layouts were CPU-bound.")
                  + "\n")
    md.append("| workload | conns | layout | layout | others | irq | steal | idle | wrk (steal) | others, worst run |")
    md.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for label, c, n, m, runs in rows:
        worst = max(runs, key=lambda r: r.get("foreign_core_share") or 0) if runs else {}
        wrk_share = (m.get("wrk_cores_used") or 0) / per_wrk if m.get("wrk_cores_used") is not None else None
        md.append(f"| {label} | {c} | {n} | {pct((m.get('cpu_util') or 0) / n_server)} | "
                  f"{pct(m.get('foreign_core_share'))} | {pct(m.get('softirq_share'))} | {pct(m.get('steal_share'))} | "
                  f"{pct(m.get('server_idle_share'))} | {pct(wrk_share)} ({pct(m.get('wrk_core_steal_share'))}) | "
                  f"{top_text(worst.get('foreign_top')) or '–'} |")
    md.append("")
    return md


def wrk_bound(results):
    """Runs where wrk itself used (nearly) all of its core: those measure the load generator too."""
    per_core = max(1, len(results["config"]["wrk_cpus"].split(",")))
    hits = sorted({name for name, r in all_runs(results) if (r.get("wrk_cores_used") or 0) / per_core >= 0.9})
    return hits


def describe_errors(r):
    """ "12 error(s) in 3,456 requests: status (non-2xx/3xx) 10, read 2" from a wrk run's counts."""
    d = r.get("error_detail") or {}
    what = {"status": "status (non-2xx/3xx)", "connect": "connect", "read": "read", "write": "write",
            "timeout": "timeout (> 5 s)"}
    parts = [f"{what[k]} {d[k]:,}" for k in ("status", "connect", "read", "write", "timeout") if d.get(k)]
    return f"{r['errors']:,} error(s) in {r.get('requests', 0):,} requests: " + ", ".join(parts)


def failures(results):
    """Every reason the run fails, as (where, why), in report order: a layout (or the nginx row) that did not
    start, seed or finish; any wrk run, warm-ups included, with an error (a non-2xx/3xx answer, a socket error
    or a timeout); a non-2xx/3xx answer in a layout's public request log (the requests wrk counted plus
    seeding's and the events section's; start-up's readiness polls apart); a micro-benchmark that failed or a
    case that reported an error; the events section's checks; the cost ladder's."""
    out = []

    def runs(where, warmup, measured):
        if warmup and warmup.get("errors"):
            out.append((f"{where}, warm-up at {warmup.get('conns', 64)} connections", describe_errors(warmup)))
        for i, r in enumerate(measured):
            if r.get("errors"):
                out.append((f"{where}, run {i + 1}", describe_errors(r)))

    L = results.get("layouts", {})
    for n in LAYOUTS:
        v = L.get(n)
        if v is None:
            continue
        if v.get("error"):
            out.append((n, "the layout failed: " + re.sub(r";? log[^:]*:$", "", v["error"].strip().splitlines()[0])
                        + " (more in results.json and on stderr)"))
        for wl, _ in WORKLOADS:
            per = v.get("workloads", {}).get(wl, {})
            warm = v.get("warmups", {}).get(wl)
            if warm and warm.get("errors"):
                runs(f"{n} {wl}", warm, [])
            for c in sorted(per, key=int):
                runs(f"{n} {wl} c={c}", None, per[c]["runs"])
        lg = v.get("logging", {})
        for i, w in enumerate(lg.get("warmups", [])):
            if w.get("errors"):
                out.append((f"{n} logging on/off, warm-up {i + 1}", describe_errors(w)))
        runs(f"{n} logging on", None, lg.get("on", []))
        runs(f"{n} logging off", None, lg.get("off", []))
        st = v.get("public_statuses", {})
        bad = {k: x for k, x in st.items() if k not in ("2xx", "3xx") and not k.startswith("ready ")}
        if bad:
            out.append((f"{n} request log", "non-2xx/3xx answers: " + ", ".join(f"{k} {x:,}" for k, x in
                                                                              sorted(bad.items()))))
    ng = results.get("nginx") or {}
    if ng.get("error"):
        out.append(("nginx reference", ng["error"].strip().splitlines()[0]))
    runs("nginx reference: shop --threads 1", ng.get("shop_warmup"), ng.get("shop_runs", []))
    runs("nginx reference: nginx", ng.get("nginx_warmup"), ng.get("nginx_runs", []))
    if ng.get("nginx_runs") and ng.get("nginx_body_ok") is False:
        out.append(("nginx reference: nginx", "its static file did not come back byte for byte"))
    for key in ("micro", "micro_events"):
        mi = results.get(key) or {}
        if mi.get("failed"):
            out.append((f"micro-benchmark ({key})", mi["skipped"].strip().splitlines()[0]))
        for name, row in mi.get("rows", {}).items():
            if "error" in row:
                out.append((f"micro-benchmark {name}", row["error"]))
    out += [("events", f) for f in ev.failures(results)]
    out += [("cost ladder: " + where, why) for where, why in ladder.failures(results)]
    out += peer.failures(results)
    return out


def self_checks(results):
    """The report's "Self-checks" section: what fails the run, and whether anything did."""
    failed = results.get("failures", [])
    md = ["## Self-checks\n"]
    md.append("The run exits non-zero after writing this report when any of these fails: every layout (and the "
              "nginx reference) started, was seeded and finished its workloads; every wrk run, warm-ups included, "
              "had 0 errors (non-2xx/3xx answers, socket errors, timeouts; `POST /orders` included: products are "
              "seeded with a stock of 10⁹, so a 409 out of stock cannot happen and counts as an error); every "
              "layout's public request log has only 2xx/3xx answers besides start-up's readiness polls; the "
              "micro-benchmarks ran without an error; the events checks below; the cost ladder's steps started "
              "and their runs had 0 errors. Skipped parts (a tool or executable missing, said in a note above) "
              "do not fail the run.\n")
    if failed:
        md.append(f"**FAILED ({len(failed)}):**\n")
        md += [f"- **{where}:** {why}" for where, why in failed]
        md.append("")
    else:
        md.append("**All passed.**\n")
    return md


def reading(results):
    """Factual sentences computed from the numbers: where the split layout's time and CPU go. Every
    comparison is worded from the measured values, so a run that contradicts the usual story says so."""
    L = results["layouts"]
    mono, split = L.get("monolith", {}).get("workloads", {}), L.get("split", {}).get("workloads", {})
    c = str(max(results["config"]["conns"]))
    out = []

    def m(tbl, wl):
        return tbl.get(wl, {}).get(c, {}).get("median")

    def by_proc(x):
        by = x.get("cpu_by_proc_per_1k", {})
        return ", ".join(f"{k} {v:.3f}" for k, v in sorted(by.items(), key=lambda kv: -kv[1]) if v > 0)

    def saturated(*xs):
        return all((x.get("cpu_util") or 0) >= 0.9 for x in xs)

    mh, mp, ml, mo, mx = (m(mono, w) for w in ("health", "product", "list", "order", "mix"))
    sh, sp, sl, so, sx = (m(split, w) for w in ("health", "product", "list", "order", "mix"))
    # CPU s per 1,000 requests is numerically CPU ms per request: the sentences use ms per request.
    if mh and mp:
        d = mp["cpu_s_per_1k"] - mh["cpu_s_per_1k"]
        out.append(f"- **HTTP stack vs module (monolith, {c} connections).** `/health/live` costs "
                   f"{mh['cpu_s_per_1k']:.3f} ms of CPU per request (parsing, routing, response headers, the request "
                   f"log line, metrics); `GET /products/{{id}}` costs {mp['cpu_s_per_1k']:.3f} ms, so the products "
                   f"module (product lookup, JSON encoding) adds {d:.3f} ms, {d / mp['cpu_s_per_1k']:.0%} of the "
                   f"request. Throughput {mh['rps']:,.0f} vs {mp['rps']:,.0f} req/s.")
    if sh and mh:
        out.append(f"- **The gateway alone.** Its own `/health/live`: {sh['rps']:,.0f} req/s, "
                   f"{sh['cpu_s_per_1k']:.3f} ms CPU per request, {ratio(sh['cpu_s_per_1k'], mh['cpu_s_per_1k']):.2f}× "
                   f"the monolith's. Same HTTP stack and no hop; the gateway runs every handler on a pool of 64 "
                   f"threads (split/gateway_main.cpp), a thread hand-off per request that the monolith, running "
                   f"handlers on its I/O threads, does not make.")
    if sp and mp:
        extra = sp["cpu_s_per_1k"] - mp["cpu_s_per_1k"]
        s = (f"- **One extra hop (`GET /products/{{id}}`).** split/monolith: {ratio(sp['rps'], mp['rps']):.2f}× req/s, "
             f"p50 {sp['p50_ms']:.2f} vs {mp['p50_ms']:.2f} ms, p99 {sp['p99_ms']:.2f} vs {mp['p99_ms']:.2f} ms, "
             f"{sp['cpu_s_per_1k']:.3f} vs {mp['cpu_s_per_1k']:.3f} ms CPU per request "
             f"({extra:+.3f} ms, {ratio(sp['cpu_s_per_1k'], mp['cpu_s_per_1k']):.2f}×). By process (ms per request): "
             f"{by_proc(sp)}. The products service runs the monolith's routes and module code; the gateway receives "
             f"the request, forwards it over a pooled loopback connection and relays the answer without parsing "
             f"its JSON.")
        prod = sp.get("cpu_by_proc_per_1k", {}).get("products")
        if prod is not None:
            s += (f" The products service alone spends {prod:.3f} ms per request, "
                  + ("more than" if prod > mp["cpu_s_per_1k"] else "less than")
                  + f" the monolith's whole request ({mp['cpu_s_per_1k']:.3f} ms).")
        if sh:
            s += (f" The hop adds {extra:.3f} ms, {ratio(extra, sh['cpu_s_per_1k']):.1f}× what the gateway spends "
                  f"answering `/health/live` itself: a second server-side exchange (in products) plus the client side "
                  f"of it (in the gateway).")
        if saturated(sp, mp):
            s += (" Both layouts saturated the server core (cores used ≥ 0.9), so the requests/s ratio is "
                  "essentially the inverse of the CPU-per-request ratio.")
        else:
            s += (f" Cores used: monolith {mp['cpu_util']:.2f}, split {sp['cpu_util']:.2f} — below 0.9 the "
                  f"layout was not CPU-bound on its core (waiting on hops, or the core was busy with other work), so "
                  f"requests/s does not follow CPU per request.")
        out.append(s)
    if sl and ml and sp and mp:
        rl, rp = ratio(sl["cpu_s_per_1k"], ml["cpu_s_per_1k"]), ratio(sp["cpu_s_per_1k"], mp["cpu_s_per_1k"])
        out.append(f"- **Larger bodies (`GET /products?limit=20`, ~{20 * L['monolith'].get('seed', {}).get('product_body_bytes', 130) // 1000} KB).** "
                   f"split/monolith: {ratio(sl['rps'], ml['rps']):.2f}× req/s, {rl:.2f}× CPU per request "
                   f"({sl['cpu_s_per_1k']:.3f} vs {ml['cpu_s_per_1k']:.3f} ms), against {rp:.2f}× for a single "
                   f"product. The gateway relays bodies without decoding them; "
                   + ("the hop weighs less when the module does more work per request." if rl < rp else
                      "here the hop did not weigh less with the larger body (body copying through the gateway "
                      "grows with size)."))
    if so and mo:
        out.append(f"- **Two hops plus a saga (`POST /orders`).** split/monolith: {ratio(so['rps'], mo['rps']):.2f}× "
                   f"req/s, p99 {so['p99_ms']:.2f} vs {mo['p99_ms']:.2f} ms, "
                   f"{ratio(so['cpu_s_per_1k'], mo['cpu_s_per_1k']):.2f}× CPU per request "
                   f"({so['cpu_s_per_1k']:.3f} vs {mo['cpu_s_per_1k']:.3f} ms). By process (ms per request): "
                   f"{by_proc(so)}. The orders code is the same in both; in split it calls products over HTTP to "
                   f"reserve stock (JSON encoded and decoded on both sides, the client side of the call in the "
                   f"orders process, the gateway's hop in front) where the monolith makes a virtual call.")
    if sx and mx:
        out.append(f"- **Mix.** split/monolith: {ratio(sx['rps'], mx['rps']):.2f}× req/s, "
                   f"{ratio(sx['cpu_s_per_1k'], mx['cpu_s_per_1k']):.2f}× CPU per request, "
                   f"{ratio(sx['rss_mib'], mx['rss_mib']):.2f}× peak memory ({sx['rss_mib']:.1f} vs "
                   f"{mx['rss_mib']:.1f} MiB: {len(sx.get('cpu_by_proc_per_1k', {}))} processes, nats-server included, each "
                   f"with its own runtime, pools and caches).")
    nx = sx or sp
    n_ms = (nx or {}).get("cpu_by_proc_per_1k", {}).get("nats")
    if n_ms is not None and nx.get("cpu_s_per_1k"):
        out.append(f"- **The registry (nats-server).** During the {'mix' if sx else '`GET /products/{id}`'} at {c} "
                   f"connections it used {n_ms:.3f} ms of CPU per request, {n_ms / nx['cpu_s_per_1k']:.1%} of the "
                   f"split layout's CPU ({n_ms / 1000 * nx['rps']:.3f} of a core), counted in the split figures like "
                   f"every other process. No request passes through it: the services call each other directly at "
                   f"the URLs the registry lists. Its work is the registry's and the central configuration's traffic "
                   f"(every instance rewrites its entry every 250 ms and watches the bucket), which does not grow "
                   f"with requests, so its share per request shrinks as throughput grows.")
    out.extend(second_instance(results, c, m))
    mr = results.get("micro", {}).get("rows", {})
    ip, rg, rh = mr.get("InProcess/GetProduct"), mr.get("Remote/GetProduct"), mr.get("Remote/HealthLive")
    ia = mr.get("InProcess/AppHandle")
    if ip and "real_us" in ip:
        s = f"- **One call (micro-benchmark).** `GetProduct` in process: {ip['real_us']:.2f} µs"
        if ia and "real_us" in ia:
            s += f"; the whole HTTP pipeline in process without a socket (`App::Handle`): {ia['real_us']:.2f} µs"
        if rg and "real_us" in rg:
            s += (f"; through `products::MakeHttpClient` to a live shop-products: {rg['real_us']:.1f} µs "
                  f"({rg['real_us'] / ip['real_us']:.0f}× the in-process call), of which {rg['cpu_us']:.1f} µs "
                  f"CPU in the calling process alone")
        if rh and "real_us" in rh:
            s += f"; a bare HTTP round trip (`/health/live`) on the same kind of pooled connection: {rh['real_us']:.1f} µs"
        s += "."
        if rg and rh and "real_us" in rg and "real_us" in rh:
            s += (f" The product call costs {rg['real_us'] - rh['real_us']:+.1f} µs wall and "
                  f"{rg['cpu_us'] - rh['cpu_us']:+.1f} µs caller CPU against the bare round trip: looking up the "
                  f"product and its JSON (encoded by the service, decoded by the client) is "
                  + ("a small part of the remote call; the transport is most of it." if rg["real_us"] - rh["real_us"]
                     < 0.25 * rg["real_us"] else f"{(rg['real_us'] - rh['real_us']) / rg['real_us']:.0%} of it."))
        if rg and "real_us" in rg:
            s += " Remote latency is a round trip between two processes on two cores (wake-ups included), not CPU alone."
        gw_p = (sp or {}).get("cpu_by_proc_per_1k", {}).get("gateway")
        gw_h = (sh or {}).get("cpu_by_proc_per_1k", {}).get("gateway")
        if rh and "cpu_us" in rh and gw_p is not None and gw_h is not None:
            s += (f" For scale: the calling side of one bare round trip costs {rh['cpu_us']:.1f} µs of CPU here, and "
                  f"the gateway spends {(gw_p - gw_h) * 1000:.1f} µs more per proxied `GET /products/{{id}}` than per "
                  f"`/health/live` it answers itself ({c} connections).")
        out.append(s)
    errs = []
    for n in LAYOUTS:
        for wl, per in L.get(n, {}).get("workloads", {}).items():
            for cc, v in per.items():
                if v["median"]["errors"]:
                    errs.append(f"{n} {wl} c={cc}: {v['median']['errors']}")
    out.append("- **Errors:** " + ("none: every response 2xx/3xx, no socket errors, no timeouts." if not errs
                                    else "; ".join(errs) + " (see the request-log excerpt below)."))
    return "\n".join(out)


def second_instance(results, c, m):
    """What the second products instance (split2 against split) bought, worded from the numbers."""
    L, cfg = results["layouts"], results["config"]
    one, two = L.get("split", {}).get("workloads", {}), L.get("split2", {}).get("workloads", {})
    rows = [(label, m(two, wl), m(one, wl)) for wl, label in
            (("product", "`GET /products/{id}`"), ("order", "`POST /orders`"), ("mix", "mix"))]
    rows = [(label, a, b) for label, a, b in rows if a and b]
    if not rows:
        return []
    cpus = cfg["server_cpus"].split(",")
    if len(cpus) == 1:
        s = (f"- **A second products instance (split2 against split).** Every server process is pinned to CPU "
             f"{cpus[0]}, one core, so the second instance cannot add CPU: both products instances share that core "
             f"with the gateway, users, orders and nats-server. All it can change is how the core's time is divided "
             f"(one more process with its own I/O thread, caches and registry heartbeat; the gateway and orders "
             f"take the two instances in turn, round robin). Measured anyway, split2/split at {c} connections: ")
    else:
        s = (f"- **A second products instance (split2 against split).** The server processes share CPUs "
             f"{cfg['server_cpus']} ({len(cpus)} cores), so a second instance can use CPU the first leaves idle. "
             f"split2/split at {c} connections: ")
    s += "; ".join(f"{label} {ratio(a['rps'], b['rps']):.2f}× req/s, {ratio(a['cpu_s_per_1k'], b['cpu_s_per_1k']):.2f}× "
                   f"CPU per request, p99 {a['p99_ms']:.2f} vs {b['p99_ms']:.2f} ms" for label, a, b in rows) + "."
    label, a, b = rows[0]
    r, rc = ratio(a["rps"], b["rps"]), ratio(a["cpu_s_per_1k"], b["cpu_s_per_1k"])
    if not all((x.get("cpu_util") or 0) >= 0.9 for x in (a, b)):
        s += (f" {label}: cores used {a['cpu_util']:.2f} (split2) and {b['cpu_util']:.2f} (split) — below 0.9 the "
              f"layouts were not CPU-bound on their core (waiting on hops, or other work on the machine took the "
              f"core), so the throughput ratio says little about what the instance buys; CPU per request "
              f"({rc:.2f}×) is the steadier figure.")
    elif 0.95 <= r <= 1.05:
        s += (f" {label}: throughput within ±5% with the core saturated — no gain"
              + (", as one core predicts." if len(cpus) == 1 else "."))
    elif r > 1.05:
        s += (f" {label}: {r - 1:.0%} more throughput with the core saturated"
              + (" although no CPU was added: the same core did less work per request ({:.2f}×), or the machine was "
                 "not quiet (see above).".format(rc) if len(cpus) == 1 else "."))
    else:
        s += (f" {label}: {1 - r:.0%} less throughput with the core saturated: the same core did {rc:.2f}× the work "
              f"per request, spread over two products processes (each with its own threads, cache and heartbeat) "
              f"where one did it all.")
    by = a.get("cpu_by_proc_per_1k", {})
    inst = sorted(k for k in by if k.startswith("products"))
    total = sum(by[k] for k in inst)
    if len(inst) > 1 and total > 0:
        s += (f" The products CPU for {label} split " + " / ".join(f"{k} {by[k] / total:.0%}" for k in inst)
              + f" ({total:.3f} ms per request in all, {b.get('cpu_by_proc_per_1k', {}).get('products', 0):.3f} "
              f"with one instance).")
    mx2, mx1 = m(two, "mix"), m(one, "mix")
    if mx2 and mx1 and mx2.get("rss_mib") and mx1.get("rss_mib"):
        s += f" Peak memory in the mix: {mx2['rss_mib']:.1f} vs {mx1['rss_mib']:.1f} MiB."
    if len(cpus) == 1:
        s += (" With two cores, one of them wrk's, this machine cannot show what a second instance buys when it has "
              "a core of its own." if cfg["cores"] <= 2 else
              " What it buys with a core of its own needs more server cores (`--server-cpus`).")
    return [s]


# ---------------------------------------------------------------------------------------------
# Scaled out (PostgreSQL)

SCALED_RATIOS = [("monolith-pg2", "monolith-pg"), ("split2-pg", "split-pg"), ("split-pg", "monolith-pg")]
ROUTING = ("nginx", "nginx-worker", "gateway", "nats")  # what routes requests to the replicas, not the API's work


def tier_split(by):
    """(application, routing, PostgreSQL) CPU per request from a row's per-process figures (s per 1k requests):
    PostgreSQL is the server's processes, routing is nginx (monolith-pg2) or the gateway and nats-server (split),
    the application every shop or service process."""
    pg = by.get("postgres", 0.0)
    routing = sum(v for k, v in by.items() if k in ROUTING)
    app = sum(v for k, v in by.items() if k != "postgres" and k not in ROUTING)
    return app, routing, pg


def scaled_names(results):
    L = results["layouts"]
    return [n for n in SCALED_LAYOUTS if L.get(n, {}).get("workloads")]


def scaled_table(results):
    L = results["layouts"]
    names = scaled_names(results)
    lines = ["| workload | conns | layout | req/s | p50 ms | p99 ms | CPU ms / req | app | routing | PostgreSQL "
             "| PG share | cores used | errors |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for wl, label in WORKLOADS:
        for c in results["config"]["conns"]:
            ms = {n: L[n]["workloads"].get(wl, {}).get(str(c), {}).get("median") for n in names}
            for n in names:
                m = ms[n]
                if not m:
                    continue
                app, routing, pg = tier_split(m.get("cpu_by_proc_per_1k", {}))
                total = m["cpu_s_per_1k"]
                lines.append(f"| {label} | {c} | {n} | {fmt(m['rps'], 'rps')} | {fmt(m['p50_ms'], 'ms')} | "
                             f"{fmt(m['p99_ms'], 'ms')} | {fmt3(total)} | {fmt3(app)} | {fmt3(routing)} | {fmt3(pg)} | "
                             f"{pg / total:.0%} | {fmt2(m['cpu_util'])} | {m['errors']} |" if total else
                             f"| {label} | {c} | {n} | – | | | | | | | | | {m['errors']} |")
            for num, den in SCALED_RATIOS:
                a, b = ms.get(num), ms.get(den)
                if a and b:
                    ta, tb = tier_split(a.get("cpu_by_proc_per_1k", {})), tier_split(b.get("cpu_by_proc_per_1k", {}))
                    lines.append(f"| {label} | {c} | **{num}/{den}** | {fmt(ratio(a['rps'], b['rps']), 'ratio')} | "
                                 f"{fmt(ratio(a['p50_ms'], b['p50_ms']), 'ratio')} | "
                                 f"{fmt(ratio(a['p99_ms'], b['p99_ms']), 'ratio')} | "
                                 f"{fmt(ratio(a['cpu_s_per_1k'], b['cpu_s_per_1k']), 'ratio')} | "
                                 f"{fmt(ratio(ta[0], tb[0]), 'ratio')} | {fmt(ratio(ta[1], tb[1]), 'ratio')} | "
                                 f"{fmt(ratio(ta[2], tb[2]), 'ratio')} | | | |")
    return "\n".join(lines)


def predict(app_s, pg_s, n, k_app, k_db):
    """Requests/s on n application machines of k_app cores and one PostgreSQL machine of k_db cores, from CPU
    seconds per request: min(n * k_app / app_s, k_db / pg_s)."""
    limits = [n * k_app / app_s if app_s else float("inf"), k_db / pg_s if pg_s else float("inf")]
    return min(limits), ("app" if limits[0] <= limits[1] else "PostgreSQL")


def scaled_section(results):
    """The report's "Scaled out (PostgreSQL)" section (Markdown lines)."""
    cfg, L = results["config"], results["layouts"]
    names = scaled_names(results)
    md = ["## Scaled out (PostgreSQL)\n"]
    tried = [n for n in SCALED_LAYOUTS if n in L]
    if not names:
        md.append(("Not run (--no-scaled)." if cfg.get("no_scaled") else
                   "No scaled layout finished" + (f" ({', '.join(tried)} failed: see Self-checks)." if tried else
                                                  " (not selected, or skipped: see the notes above).")) + "\n")
        return md
    cpus = cfg["server_cpus"].split(",")
    c = str(max(cfg["conns"]))
    sr = cfg.get("split_replicas", SPLIT_REPLICAS).get("split2-pg", {})
    md.append(
        "The same workloads and load as above, on layouts that keep their data in PostgreSQL 15 instead of SQLite "
        "files: *monolith-pg*, one `shop`; *monolith-pg2*, two `shop` processes on the same databases (and the same "
        "data dir, for the signing key) behind nginx (one worker, a plain round-robin HTTP/1.1 proxy with keep-alive "
        "to both; the gateway cannot front the monolith: it finds instances in the NATS registry, where the monolith "
        "does not register, and its static `--*-url` flags take one URL per service, not a list); *split-pg*, the "
        "split services each on its own database; *split2-pg*, the same with "
        + " and ".join(f"{v} {k}" for k, v in sr.items()) + " instances (the busy services: products serves the "
        "reads, orders the writes; the gateway and orders take the instances in turn through the registry). "
        "Each start of a layout gets a fresh PostgreSQL server (tests/support/pg_server.sh: initdb in a temporary "
        "directory, loopback, a free port, as `nobody`, durability off, like the PostgreSQL tests; "
        "split/postgres/init.sql's roles and databases users, products, orders, each module as its own role, in the "
        "monolith too), pinned to the server core with the layout and measured as part of it: *PostgreSQL* is the "
        "postmaster and every backend and worker it forked (live children's CPU plus what it reaped). "
        + ("pg_stat_statements is preloaded in every scaled layout alike (for the statements-per-request figures "
           "below); it adds a little to PostgreSQL's CPU. " if any(L[n].get("pg", {}).get("pg_stat_statements")
                                                                for n in names) else "")
        + "*app*: the shop processes or the users/products/orders services; *routing*: nginx (monolith-pg2) or the "
        "gateway and nats-server (split layouts); the three add up to *CPU ms / req*. Peak RSS leaves PostgreSQL "
        "out (its shared buffers are in every backend's RSS). The events section is not run on these layouts.\n")
    md.append(scaled_table(results) + "\n")

    def m(n, wl, cc=c):
        return L.get(n, {}).get("workloads", {}).get(wl, {}).get(cc, {}).get("median")

    # SQLite against PostgreSQL, one process.
    lines = []
    for wl in ("product", "order", "mix"):
        a, b = m("monolith-pg", wl), m("monolith", wl)
        if a and b:
            pg = a.get("cpu_by_proc_per_1k", {}).get("postgres", 0)
            lines.append(f"{LABEL[wl]} {ratio(a['rps'], b['rps']):.2f}× req/s, {a['cpu_s_per_1k']:.3f} vs "
                         f"{b['cpu_s_per_1k']:.3f} ms CPU per request ({pg:.3f} of it in PostgreSQL)")
    if lines:
        md.append(f"**PostgreSQL against SQLite (monolith-pg against monolith, {c} connections):** "
                  + "; ".join(lines) + ". SQLite is a library call in the process; PostgreSQL is a round trip to "
                  "another process per statement, with that process's work and two context switches on the same "
                  "core.\n")

    # Statements per request.
    st = [(n, wl, x) for n in names for wl, x in L[n].get("pg", {}).get("statements", {}).items()]
    if st:
        md.append("**Statements per request** (pg_stat_statements, calls summed by database over the workload's "
                  "warm-up and runs, divided by the requests wrk counted; they include the outbox relays' and "
                  "readiness checks' statements, which are few; `BEGIN`/`COMMIT` count as statements). *Outbox "
                  "lock wait*: milliseconds per request spent in `pg_advisory_xact_lock` (its execution time in "
                  "pg_stat_statements, wall time), by database: every transaction that writes events takes that "
                  "lock (modules/events, the outbox's commit order) from its outbox rows to its commit, so this is "
                  "time spent queueing behind other writers of the same database, in any instance. On one shared "
                  "core it includes waiting for the core; it is a serial section whatever the number of machines:\n")
        md.append("*Connections opened*: sessions PostgreSQL started while the workload ran (its warm-up included), all "
                  "databases: each service thread opens its connection on its first use of the database, so a "
                  "workload that reaches threads the earlier ones did not (`POST /orders`: the orders service's "
                  "handler pool, 32 threads per instance) pays their set-up — a backend forked, SCRAM "
                  "authentication, caches warmed, statements prepared — in its figures, in the measured runs when "
                  "the warm-up did not reach every thread.\n")
        md.append("| workload | layout | users | products | orders | total | outbox lock wait ms: products / orders "
                  "| connections opened |")
        md.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for wl, label in WORKLOADS:
            for n, w, x in st:
                if w == wl:
                    p, lk = x["per_request"], x.get("outbox_lock_ms_per_request", {})
                    md.append(f"| {label} | {n} | " + " | ".join(f"{p.get(db, 0):.2f}" for db in
                                                               ("users", "products", "orders"))
                              + f" | {sum(p.values()):.2f} | "
                              + " / ".join(f"{lk.get(db, 0):.2f}" for db in ("products", "orders")) + " | "
                              + str(sum(L[n]["pg"].get("sessions", {}).get(wl, {}).values())) + " |")
        md.append("")
    bk = [(n, L[n]["pg"]["backends"]) for n in names if L[n].get("pg", {}).get("backends")]
    if bk:
        text = ("**PostgreSQL connections** (client backends by database after the workloads; each service thread "
                "that touches the database holds one): " + "; ".join(
                    f"{n}: " + ", ".join(f"{db} {k}" for db, k in sorted(max(by.values(), key=lambda d: sum(
                        d.values())).items())) for n, by in bk) + ".")
        peak = {n: max(by.values(), key=lambda d: sum(d.values())) for n, by in bk}
        limit = next((L[n]["pg"].get("max_connections", 0) - L[n]["pg"].get("reserved_connections", 0)
                      for n in names if L[n]["pg"].get("max_connections")), None)
        per = []
        for n, reps in (("split-pg", 1), ("split2-pg", SPLIT_REPLICAS["split2-pg"].get("orders", 1))):
            if n in peak and peak[n].get("orders"):
                per.append(peak[n]["orders"] / reps)
        if limit and per:
            each = max(per)
            text += (f" An orders instance holds about {each:.0f} (its handler pool of 32 threads, plus its relay "
                     f"and listener); this server's `max_connections` leaves {limit} for clients, so with the "
                     f"defaults one PostgreSQL server takes about {int(limit // each)} orders instances and "
                     f"nothing else: more machines running orders need a connection pooler or a larger limit "
                     f"(each backend is a process with its own memory).")
        md.append(text + "\n")

    # What two cores can and cannot show.
    one_core = len(cpus) == 1
    md.append("### What this machine can and cannot show\n")
    rep = []
    for num, den in (("monolith-pg2", "monolith-pg"), ("split2-pg", "split-pg")):
        for wl in ("product", "order", "mix"):
            a, b = m(num, wl), m(den, wl)
            if a and b:
                rep.append(f"{num}/{den} {LABEL[wl]} {ratio(a['rps'], b['rps']):.2f}× req/s, "
                           f"{ratio(a['cpu_s_per_1k'], b['cpu_s_per_1k']):.2f}× CPU per request")
    md.append(
        f"- **Replicas on {'one core only share it' if one_core else 'the same cores share them'}.** The machine has "
        f"{cfg['cores']} cores; wrk has CPU {cfg['wrk_cpus']}, and every server process, the PostgreSQL server "
        f"included, is pinned to CPU {cfg['server_cpus']}. A second replica adds no CPU: the two take turns on "
        f"{'that core' if one_core else 'those cores'} with the routing tier and PostgreSQL. What the 2-replica rows "
        f"measure is the cost of running replicas (one more process with its threads, caches, connections and "
        f"registry heartbeat; the round robin; nginx for the monolith), not their benefit. Measured at {c} "
        f"connections: " + ("; ".join(rep) if rep else "no pair of rows to compare") + ".")
    md.append(
        "- **PostgreSQL round trips are on the same core.** Each statement is a loopback round trip to a backend "
        "process on the core the service runs on: the backend's CPU is counted (the *PostgreSQL* column), and "
        "the waits cost context switches rather than network time. On separate machines each round trip would "
        "add the network's latency (tens to hundreds of µs per statement in a data centre) to the request's "
        "latency and little CPU; a closed-loop client then needs more connections for the same rate "
        "(Little's law: connections = rate × latency).")
    md.append(
        "- **What it does show.** CPU per request, per process and per tier (app, routing, PostgreSQL), under the "
        "same load: that is what the prediction below is made of. Throughput and latency are those of one shared "
        "core; with other engineers' builds on the machine, wall-clock figures are noisy (see Fairness), CPU per "
        "request much less so.")
    md.append("")

    # Prediction.
    md.append("### Prediction for N machines\n")
    k = cfg["cores"]
    md.append(
        f"From the measured CPU seconds per request at {c} connections, split into the tiers that scale out "
        f"(*app* plus *routing*: every shop process or service, nginx or the gateway and nats-server, run on each "
        f"application machine) and the one that does not (*PostgreSQL*: one primary; this code has no read "
        f"replicas or sharding):\n\n"
        f"    X(N) = min( N × k_app / c_app , k_db / c_db )      N* = k_db × c_app / (k_app × c_db)\n\n"
        f"X(N) is requests/s with N application machines of k_app cores and one PostgreSQL machine of k_db cores; "
        f"c_app and c_db are CPU seconds per request (app + routing, and PostgreSQL); beyond N* machines "
        f"PostgreSQL is the limit. Below, k_app = k_db = {k} (machines like this one, every core serving). "
        f"Assumptions: CPU-bound, every core at 100% (an upper bound: real deployments keep headroom); CPU per "
        f"request stays what it was here (no extra cost from lock waits on hot rows, more PostgreSQL connections — "
        f"each service thread holds one, so connections grow with N and need a pooler or a higher "
        f"`max_connections` — or a real network's interrupt and TCP work, which loopback does not pay); the "
        f"routing tier scales with the machines; the clients offer enough concurrency to cover the network's "
        f"latency; cores as fast as these. Check at N = 1 core: everything on one core predicts "
        f"1 / (c_app + c_db) requests/s, against the measured rate (equal when the core was saturated).\n")
    md.append("*irq*: the server core's irq+softirq time per request (the kernel's network receive work, charged to "
              "no process, so not in the tables' CPU per request; from the Fairness figures), counted in c_app here: "
              "on separate machines every hop pays it. *N = n*: n application machines plus the PostgreSQL one.\n")
    md.append("| workload | from layout | app + routing ms | irq ms | c_app ms | c_db ms | one core: predicted / "
              "measured req/s | N = 1 | N = 2 | N = 4 | N = 8 | N* |")
    md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for wl in ("product", "order", "mix"):
        for n in names:
            x = m(n, wl)
            if not x or not x.get("requests"):
                continue
            app, routing, pg = tier_split(x.get("cpu_by_proc_per_1k", {}))
            irq = (x.get("softirq_share") or 0) * len(cpus) / x["rps"] if x.get("rps") else 0  # s per request
            ca, cd = (app + routing) / 1000 + irq, pg / 1000  # CPU s per request
            if not ca:
                continue
            one = 1 / (ca + cd)
            cells = []
            for N in (1, 2, 4, 8):
                v, lim = predict(ca, cd, N, k, k)
                cells.append(f"{v:,.0f}" + (" (PG)" if lim == "PostgreSQL" else ""))
            nstar = k * ca / (k * cd) if cd else None
            md.append(f"| {LABEL[wl]} | {n} | {app + routing:.3f} | {irq * 1000:.3f} | {ca * 1000:.3f} | "
                      f"{cd * 1000:.3f} | {one:,.0f} / {x['rps']:,.0f} | "
                      + " | ".join(cells) + f" | {'∞' if nstar is None else f'{nstar:.1f}'} |")
    md.append("\n*(PG)*: PostgreSQL's machine is the limit there. The 2-replica layouts' figures include the cost "
              "of running replicas on a shared core; the 1-replica layouts' are the lower bound of the per-request "
              "cost. Neither says anything about latency on a real network.\n")
    md.append("**Not in the formula: a serial section.** Every transaction that writes events holds its database's "
              "outbox lock (`pg_advisory_xact_lock`, modules/events: seq order = commit order) from its outbox rows "
              "to its commit, so in each database one such transaction at a time is in that stretch, whichever "
              "instance or machine it comes from. An order writes events in products (the reservation) and in "
              "orders, so `POST /orders` ≤ 1 / t_hold per database, t_hold ≥ two round trips (the outbox `INSERT`, "
              "the `COMMIT`) plus the commit's WAL flush (off here: the server runs with fsync off). At a 0.2 ms "
              "network round trip and no flush, about 2,500 orders/s whatever N; the *outbox lock wait* column "
              "above shows the queue forming already on one core. Reads (`GET /products/{id}`, the list) do not "
              "take it.\n")
    return md


def write_chart(results, path):
    L = results["layouts"]
    names = [n for n in BASE_LAYOUTS if L.get(n, {}).get("workloads")]
    groups = [(wl, c) for wl, _ in WORKLOADS for c in results["config"]["conns"]
              if any(L[n]["workloads"].get(wl, {}).get(str(c)) for n in names)]
    if not groups:
        return None

    def val(n, wl, c, k):
        m = L[n]["workloads"].get(wl, {}).get(str(c), {}).get("median")
        return (m or {}).get(k) or 0

    short = {"health": "health", "product": "product", "list": "list", "order": "order", "mix": "mix"}
    xl = [f"{short[wl]}\nc={c}" for wl, c in groups]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(3, 1, figsize=(max(8, len(groups) * 0.3 * (len(names) + 1)), 11),
                                 constrained_layout=True)
        width = 0.8 / max(1, len(names))
        for ax, (k, title) in zip(axes, [("rps", "requests/s (higher is better)"),
                                         ("p99_ms", "p99 latency, ms (lower is better)"),
                                         ("cpu_s_per_1k", "CPU s per 1,000 requests, all processes (lower is better)")]):
            for i, n in enumerate(names):
                xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(groups))]
                ys = [val(n, wl, c, k) for wl, c in groups]
                ax.bar(xs, ys, width, label=n, color=COLOR[n])
                if n != "monolith" and "monolith" in names:  # each split bar: its ratio to the monolith
                    for x, y, (wl, c) in zip(xs, ys, groups):
                        base = val("monolith", wl, c, k)
                        if y and base:
                            ax.annotate(f"{y / base:.2f}×", (x, y), textcoords="offset points", xytext=(0, 2),
                                        ha="center", fontsize=6)
            ax.set_title(title + (" — labels: ratio to the monolith" if "monolith" in names and len(names) > 1
                                  else ""))
            ax.set_xticks(range(len(groups)))
            ax.set_xticklabels(xl, fontsize=8)
            ax.grid(axis="y", alpha=0.3)
            ax.legend()
        cfg = results["config"]
        fig.suptitle(f"shop: {' vs '.join(names)} ({'quick' if cfg['quick'] else 'full'} run, median of "
                     f"{cfg['repeats']}, {cfg['duration']} s each, server on CPU {cfg['server_cpus']})")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return "matplotlib"
    except Exception as e:  # noqa: BLE001 - fall back to gnuplot
        log(f"matplotlib unavailable ({e}); trying gnuplot")
    if not shutil.which("gnuplot"):
        return None
    dat = path + ".dat"
    with open(dat, "w") as f:
        f.write("group " + " ".join(names) + "\n")
        for wl, c in groups:
            f.write(f"{short[wl]}/c{c} " + " ".join(str(val(n, wl, c, "rps")) for n in names) + "\n")
    script = (f"set terminal pngcairo size 1000,500\nset output '{path}'\nset style data histograms\n"
              f"set style fill solid 0.8\nset key top right autotitle columnhead\nset ylabel 'requests/s'\n"
              f"set xtics rotate by -30\nset title 'shop: requests/s, {' vs '.join(names)}'\n"
              f"plot " + ", ".join(f"'{dat}' using {i + 2}:xtic(1)" for i in range(len(names))) + "\n")
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    os.remove(dat)
    return "gnuplot" if r.returncode == 0 else None


def proc_cell(by, service):
    """A service's CPU per request: its process, or the sum of its instances (service1, service2...) with each."""
    inst = sorted(k for k in by if k == service or (k.startswith(service) and k[len(service):].isdigit()))
    if not inst:
        return "–"
    total = sum(by[k] for k in inst)
    if len(inst) == 1:
        return f"{total:.3f}"
    return f"{total:.3f} (" + " + ".join(f"{by[k]:.3f}" for k in inst) + ")"


def micro_section(results):
    cfg = results["config"]
    md = []
    mi = results.get("micro", {})
    md.append("### Micro-benchmark: one call in process vs over HTTP\n")
    if mi.get("rows"):
        md.append("Google Benchmark (`shop-bench-products`, bench/micro/products_bench.cpp), benchmark on CPU "
                  f"{cfg['wrk_cpus']}, services on CPU {cfg['server_cpus']}, 1,000 products, random ids; "
                  + (f"median of {cfg['micro_repetitions']} repetitions." if cfg["micro_repetitions"] > 1 else
                     "one repetition.") + " *Remote* cases run against a live shop-products (and the shop-users it "
                  "takes its token keys from) started by the benchmark, logging at `warn`. Each case calls the "
                  "module as it is: if it caches products (it does at the time of writing), the in-process "
                  "call is a cache hit after the first pass over the ids, and so is the service's lookup. "
                  "Debian's libbenchmark prints that it was built as DEBUG: that concerns the library's own "
                  "bookkeeping, not the code measured.\n")
        md.append("| case | what | wall µs per call | CPU µs per call (benchmark process) | shop-products CPU µs "
                  "per call | p50 / p99 µs |")
        md.append("|---|---|---:|---:|---:|---:|")
        what = {"InProcess/GetProduct": "`products::MakeService(db)->GetProduct(id)`",
                "InProcess/AppHandle": "`GET /products/{id}` through `http::App::Handle`, no socket",
                "Remote/GetProduct": "`products::MakeHttpClient(...)->GetProduct(id)`",
                "Remote/HealthLive": "`http::Client` GET `/health/live` (round-trip floor)"}
        for name, v in mi["rows"].items():
            if "error" in v:
                md.append(f"| {name} | {what.get(name, '')} | error: {v['error']} | | | |")
            else:
                pct = f"{v['p50_us']:.0f} / {v['p99_us']:.0f}" if "p50_us" in v and "p99_us" in v else "–"
                md.append(f"| {name} | {what.get(name, '')} | {v['real_us']:.2f} | {v['cpu_us']:.2f} | "
                          f"{fmt2(v.get('server_cpu_us'))} | {pct} |")
        rows = mi["rows"]
        if "Remote/GetProduct" not in rows:
            md.append("\nThe remote cases are built only with `-DSHOP_SPLIT=ON` once `products::MakeHttpClient` "
                      "links; this build has the in-process cases only.")
        md.append("")
    else:
        md.append(f"Skipped: {mi.get('skipped', 'not run')}\n")

    return md


def write_report(results, out_dir):
    cfg, L = results["config"], results["layouts"]
    md = []
    md.append(f"# shop benchmark: monolith vs split\n")
    md.append(f"{cfg['started']} · commit `{cfg['commit']}` · **{'--quick' if cfg['quick'] else 'full'} run** · "
              f"{cfg['cpu_model']} · {cfg['cores']} cores · Linux {cfg['kernel']}\n")
    if cfg["quick"]:
        md.append(f"> **--quick:** {cfg['products']:,} products and {cfg['users']:,} users (full: 10,000 and 1,000), "
                  f"connections {', '.join(map(str, cfg['conns']))} only, {cfg['duration']} s per run, "
                  f"{cfg['repeats']} repeat (not a median), {cfg['warmup']} s warm-up. It checks the harness; "
                  f"do not read much into its numbers.\n")
    for note in results["notes"]:
        md.append(f"> **Note:** {note}\n")
    q = quietness(results)
    if q:
        text, noisy = q
        if noisy:
            md.append(f"> **The machine was not quiet:** {text}; load average {cfg['loadavg']} at start. Throughput "
                      f"and latency are disturbed; CPU per request and memory much less so. Re-run on an idle "
                      f"machine for figures to quote.\n")
        else:
            md.append(f"Machine quiet during the runs: {text}; load average {cfg['loadavg']} at start.\n")
    wb = wrk_bound(results)
    if wb:
        md.append(f"> **wrk used ≥ 90% of its core** in: {', '.join(wb)}. There the load generator may be the "
                  f"limit, and the requests/s of the faster layout is understated.\n")
    if results.get("failures"):
        md.append(f"> **This run FAILED {len(results['failures'])} self-check(s)**: see \"Self-checks\" below.\n")
    chart = results.get("chart")
    if chart:
        md.append(f"![requests/s, p99 latency and CPU per request by workload]({os.path.basename(chart)})\n")

    md += self_checks(results)
    if cfg.get("ladder_only"):  # --ladder-only: no layouts were run
        md += micro_section(results)
        md += ladder_section(results)
        return finish_report(md, cfg, out_dir)
    md.append("## Results\n")
    md.append(f"Median of {cfg['repeats']} run(s) of {cfg['duration']} s per row. Latency as measured by wrk from "
              f"each request's send (see the caveat below). *CPU s / 1k req*: user+system CPU seconds of every "
              f"process of the layout per 1,000 requests (numerically, CPU ms per request). *cores used*: the layout's CPU time over wall time; near 1.0 means the one server core was saturated, well below it means the layout waited (or other processes held the core). *Peak RSS*: VmHWM summed over the layout's processes, "
              f"reset before each run. *errors*: non-2xx/3xx answers plus socket errors and timeouts (summed over "
              f"repeats; must be 0). Layouts: *monolith* (`shop`); *split* (nats-server, users, products, orders, gateway, one "
              f"instance each); *split2* (the same with two products instances). The **split/monolith** and "
              f"**split2/split** rows are ratios of the medians.\n")
    md.append(results_table(results) + "\n")

    md.append("### Time from start to ready\n")
    md.append("From starting the first process to the first `200` from `/health/ready` (for split layouts, as "
              "split/run-local.sh does: nats-server first, then, once its port is logged, users, the products "
              "instances, orders and the gateway all at once; ready when the gateway answers `200` and every "
              "instance has logged `registered`), fresh empty data dir, server pinned like in the runs; median of "
              f"{cfg['repeats']}.\n")
    md.append("| layout | ready ms | idle RSS after seeding MiB | seeding s | threads |")
    md.append("|---|---:|---:|---:|---|")
    for n in LAYOUTS:
        if n in L and "ready_s" in L[n]:
            v = L[n]
            th = ", ".join(f"{k} {t}" for k, t in v.get("threads", {}).items())
            md.append(f"| {n} | {v['ready_s'] * 1000:.0f} | {fmt(v.get('idle_rss_mib'), 'mib')} | "
                      f"{v.get('seed', {}).get('wall_s', 0):.1f} | {th} |")
    for num, den in RATIOS:
        if "ready_s" in L.get(num, {}) and "ready_s" in L.get(den, {}):
            md.append(f"| **{num}/{den}** | {fmt(ratio(L[num]['ready_s'], L[den]['ready_s']), 'ratio')} | "
                      f"{fmt(ratio(L[num].get('idle_rss_mib'), L[den].get('idle_rss_mib')), 'ratio')} | | |")
    md.append("")

    mono = L.get("monolith", {}).get("workloads", {})
    if mono:
        c = max(cfg["conns"])
        peaks = [(wl, mono[wl][str(c)]["median"]["rss_mib"]) for wl in mono if str(c) in mono[wl]
                 and mono[wl][str(c)]["median"]["rss_mib"] is not None]
        if peaks:
            wl, peak = max(peaks, key=lambda x: x[1])
            verdict = "meets" if peak < 50 else "**misses**"
            md.append(f"**Monolith peak resident memory at {c} connections:** {peak:.1f} MiB (highest over the "
                      f"workloads, during `{LABEL[wl]}`); target < 50 MiB: {verdict}."
                      + ("" if c == 64 else " (--quick measures 16 connections only; the 64-connection figure is in "
                                             "the full run and in the nginx row below.)") + "\n")

    ng = results.get("nginx")
    if ng:
        md.append("### Reference: nginx on one core\n")
        md.append(f"One server core (CPU {cfg['server_cpus']}), wrk on CPU {cfg['wrk_cpus']}, 64 connections, "
                  f"{cfg['duration']} s, median of {cfg['repeats']}. shop is the monolith with `--threads 1` on the "
                  f"seeded data, `GET /products/{{id}}` with random ids; nginx 1 worker (`daemon off`, own config in a "
                  f"temp dir, access log buffered to a file like shop's request log), `GET` of a static file with "
                  f"the same bytes as a product response ({ng.get('body_bytes', '?')} bytes).\n")
        md.append("| server | req/s | p50 ms | p99 ms | CPU s / 1k req | cores used | peak RSS MiB | errors |")
        md.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for k, label in (("nginx", "nginx static file"), ("shop", "shop --threads 1, GET /products/{id}")):
            if k in ng:
                v = ng[k]
                md.append(f"| {label} | {fmt(v['rps'], 'rps')} | {fmt(v['p50_ms'], 'ms')} | {fmt(v['p99_ms'], 'ms')} | "
                          f"{fmt3(v['cpu_s_per_1k'])} | {fmt2(v['cpu_util'])} | {fmt(v['rss_mib'], 'mib')} | {v['errors']} |")
        if "nginx" in ng and "shop" in ng:
            r = ng["shop"]["rps"] / ng["nginx"]["rps"]
            md.append(f"\nshop/nginx: **{r:.2f}×** requests/s; target ≥ 0.90× (goal 1.0×): {'meets' if r >= 0.9 else '**misses**'}.\n")
        elif ng.get("skipped"):
            md.append(f"\nnginx: skipped ({ng['skipped']}).\n")

    md += logging_section(results)
    md += peer.report_section(results, sys.modules[__name__])

    md += micro_section(results)

    splits = [n for n in BASE_LAYOUTS if n in SPLIT_PRODUCTS and L.get(n, {}).get("workloads")]
    if splits:
        md.append("### Where the split layouts' CPU goes\n")
        c = str(max(cfg["conns"]))
        md.append(f"CPU ms per request by process at {c} connections (medians); *products* of split2 is the sum of "
                  f"its two instances, each in brackets; *nats* is nats-server, the registry:\n")
        procs = ["gateway", "users", "products", "orders", "nats"]
        md.append("| workload | layout | " + " | ".join(procs) + " | total | monolith |")
        md.append("|---|---|" + "---:|" * (len(procs) + 2))
        for wl, label in WORKLOADS:
            m = mono.get(wl, {}).get(c, {}).get("median")
            for n in splits:
                s = L[n]["workloads"].get(wl, {}).get(c, {}).get("median")
                if s:
                    md.append(f"| {label} | {n} | " + " | ".join(proc_cell(s["cpu_by_proc_per_1k"], p) for p in procs) +
                              f" | {s['cpu_s_per_1k']:.3f} | " + (f"{m['cpu_s_per_1k']:.3f} |" if m else "– |"))
        md.append("")

    md += scaled_section(results)

    md += fairness(results)

    md.append("## Reading\n")
    md.append(reading(results) + "\n")

    md += ev.report_section(results, BASE_LAYOUTS, "In the split layouts that includes nats-server, like every "
                                                   "figure of "
                                                   "the results table.")

    md += ladder_section(results)

    bad = []
    for n in LAYOUTS:
        v = L.get(n, {})
        st = v.get("public_statuses", {})
        if any(k not in ("2xx", "3xx") and not k.startswith("ready ") for k in st):
            bad.append(f"- {n}: responses by class in its public request log: "
                       + ", ".join(f"{k} {st[k]:,}" for k in sorted(st)))
            bad += [f"  - `{s}`" for s in v.get("non_2xx_samples", [])]
    if bad:
        md.append("### Non-2xx answers seen in the request logs\n")
        md.append("\n".join(bad) + "\n")

    md.append("## Method and fairness\n")
    threads_text = (f"every shop process run with `--threads {cfg['server_threads']}`" if cfg.get("server_threads") else
                    f"default thread counts (`--threads 0`: one I/O thread per CPU the process may run on, "
                    f"so one here, as each process is pinned to one core)")
    md.append(f"""- **Same machine, same cores.** {cfg['cpu_model']}, {cfg['cores']} cores. Every server process
  (the monolith; nats-server, users, the products instances, orders and gateway; nginx) is pinned with `taskset -c {cfg['server_cpus']}`; wrk
  runs with `taskset -c {cfg['wrk_cpus']}` ({'its own core' if cfg['wrk_own_core'] else 'NOT its own core: this machine has too few cores, so load generator and servers compete'}).
  The driver and the seeder stay off the server core while load runs. Other work on the machine is not controlled:
  run it on an idle machine.
- **Same build, same defaults.** Release build (`-O3`), both layouts from the same tree; {threads_text}; the
  gateway and orders add their handler pools, 64 and 32 threads. Request logging at the default `info` level, each
  process's stdout to a file in the run's temporary directory on local disk, in both layouts: one JSON line per
  request per process that handles it (a few GB over a full run; removed at exit).
- **Same data.** Each layout starts on a fresh temporary data dir, seeded through the public API by the same
  seeder (bench/lib/seed.py, keep-alive connections, 4 in parallel): {cfg['products']:,} products (stock
  1,000,000,000, so orders never run out), {cfg['users']:,} users each signed in once for a token, the admin from
  `SHOP_ADMIN_EMAIL`/`SHOP_ADMIN_PASSWORD`. Seeding may use every core; it is not measured.
- **Same load.** The same wrk Lua script (bench/wrk/workload.lua) and seed, so both layouts get the same request
  sequence: `GET /products/{{id}}` random ids; `GET /products?limit=20`; `POST /orders` with a random user's token,
  1 to 3 distinct random products, quantity 1 to 3 each; the mix is 70% `GET /products/{{id}}`, 20% list, 10% orders.
  Connections {', '.join(map(str, cfg['conns']))}, {cfg['duration']} s per run, one {cfg['warmup']} s warm-up per
  workload at {max(cfg['conns'])} connections (discarded), {cfg['repeats']} repeat(s), median.
- **Reference rows.** `/health/live` on each layout (the split one answered by the gateway itself) measures the HTTP
  stack alone: comparing it with `GET /products/{{id}}` separates the stack's cost from the module's, and comparing
  layouts separates the extra hop. nginx on one core bounds what a minimal HTTP server does on this machine.
- **Split processes** are started with the command lines of split/run-local.sh (`--replicas products=2` for
  split2): `nats-server -js -sd DATA/nats -a 127.0.0.1 -p -1` ({cfg.get('nats_version') or 'nats-server'}, JetStream,
  a fresh store per start), then every service with `--nats-url` and `--port 0` and no URL of another service: they
  find each other through the NATS registry, and the gateway and orders take the products instances in turn; the
  instances of a service share its data dir (SQLite, WAL). Only `--host 127.0.0.1` is added. They are started
  directly rather than through the script: it pipes every log through `tail -F | sed`, which would add two busy
  processes per service on the server core. nats-server is part of the platform, so it is part of the layout:
  pinned to the server core, its CPU and memory counted in the split layouts' figures and shown as *nats* in the
  breakdown; it is stopped after the services, so that they deregister.
- **Why wrk.** It is the Debian-packaged, widely known HTTP load generator: a single event-loop thread drives many
  keep-alive connections with little CPU of its own, Lua scripts give request mixes, and `done()` exposes the
  latency histogram (percentiles printed as JSON). **Caveat: wrk is closed-loop** — each connection sends its next
  request only when the previous answer arrived, and latency is measured from when a request was sent. When the
  server stalls, wrk sends less instead of queueing what a real client population would (coordinated omission),
  so the percentiles understate tail latency under overload; compare them across layouts at equal connection
  counts, not as absolute service levels. wrk2 (open-loop, fixed rate) is not packaged in Debian.
- CPU: `/proc/PID/stat` utime+stime of every process of the layout before and after each run (includes all
  threads; clock tick {1000 // CLK_TCK} ms). Memory: `/proc/PID/clear_refs` ← 5 before each run resets VmHWM, read
  after. Everything listens on 127.0.0.1; every load is bounded by wrk's `-d` and a hard timeout; every process
  started is stopped at exit, also on Ctrl-C.
""")
    return finish_report(md, cfg, out_dir)


def ladder_section(results):
    """The cost ladder's section; a rendering bug there must not cost the rest of the report."""
    try:
        return ladder.report_section(results)
    except Exception as e:  # noqa: BLE001
        log(f"the cost ladder's report section failed: {e!r}")
        return ["## Cost ladder: one GetProduct\n", f"Could not be written: `{e!r}`; the figures are in results.json.\n"]


def finish_report(md, cfg, out_dir):
    md.append("## Reproduce\n")
    md.append(f"```sh\n{cfg['command']}\n```\n\nRaw figures (every run): `results.json` beside this report.\n")
    path = os.path.join(out_dir, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(md))
    return path


# ---------------------------------------------------------------------------------------------


def add_events_cost(results):
    """Each layout's cost of events per order (lib/events.py), from its POST /orders runs and the micro-benchmark."""
    for res in results["layouts"].values():
        e = res.get("events")
        if e and not e.get("skipped") and not e.get("error"):
            e["cost"] = ev.cost(res, results.get("micro_events"), results["config"]["conns"])


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def nats_version(exe):
    if not exe:
        return None
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def git_commit():
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev + ("+dirty" if dirty else "") if rev else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bin-dir")
    ap.add_argument("--out")
    ap.add_argument("--work", help="temporary directory (data dirs, logs); removed by run.sh")
    ap.add_argument("--rerender", metavar="DIR", help="only rewrite DIR/report.md and chart.png from DIR/results.json")
    ap.add_argument("--duration", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--conns")
    ap.add_argument("--products", type=int)
    ap.add_argument("--users", type=int)
    ap.add_argument("--layouts", help=f"default: all ({','.join(LAYOUTS)}); --quick: "
                                      f"{','.join(BASE_LAYOUTS + QUICK_SCALED)}")
    ap.add_argument("--no-scaled", action="store_true",
                    help="no \"Scaled out (PostgreSQL)\" section: none of " + ",".join(SCALED_LAYOUTS))
    ap.add_argument("--workloads", default="health,product,list,order,mix")
    ap.add_argument("--no-nginx", action="store_true")
    ap.add_argument("--no-micro", action="store_true")
    ap.add_argument("--no-peer", action="store_true", help="no peer row (Moleculer, bench/peer/moleculer)")
    ap.add_argument("--skip-micro", action="append", default=[], metavar="EXE",
                    help="a micro-benchmark executable that did not build (run.sh)")
    ap.add_argument("--no-events", action="store_true", help="no events section (cancel latency, cost per order)")
    ap.add_argument("--events-samples", type=int, help="cancel -> stock back samples per layout (50; full run 300)")
    ap.add_argument("--no-ladder", action="store_true", help="no cost ladder of one GetProduct")
    ap.add_argument("--ladder-only", action="store_true",
                    help="only the cost ladder (and the micro-benchmark its first steps come from)")
    ap.add_argument("--server-threads", type=int, default=0, help="--threads for every shop process (default: theirs)")
    ap.add_argument("--server-cpus")
    ap.add_argument("--wrk-cpus")
    ap.add_argument("--note", action="append", default=[])
    ap.add_argument("--command", default="bench/run.sh")
    a = ap.parse_args()
    if a.rerender:
        results = json.load(open(os.path.join(a.rerender, "results.json")))
        add_events_cost(results)
        results["failures"] = failures(results)
        results["chart"] = os.path.join(a.rerender, "chart.png") if write_chart(
            results, os.path.join(a.rerender, "chart.png")) else None
        print(write_report(results, a.rerender))
        return 0
    if not (a.bin_dir and a.out and a.work):
        ap.error("--bin-dir, --out and --work are needed")
    if a.ladder_only and a.no_ladder:
        ap.error("--ladder-only and --no-ladder contradict each other")
    if a.ladder_only:
        a.layouts, a.no_events, a.no_nginx = "", True, True

    q = a.quick
    a.duration = a.duration or (2 if q else 5)
    a.warmup = a.warmup if a.warmup is not None else (1 if q else 3)
    a.repeats = a.repeats or (1 if q else 3)
    a.conns = [int(x) for x in (a.conns or ("16" if q else "1,16,64")).split(",")]
    a.products = a.products or (1000 if q else 10000)
    a.users = a.users or (100 if q else 1000)
    a.seed_timeout = 600
    a.micro_min_time = 0.1 if q else 0.5
    a.micro_repetitions = 1 if q else 3
    a.events_samples = a.events_samples or (50 if q else 300)
    a.workloads = a.workloads.split(",")
    if a.layouts is None:
        a.layouts = ",".join(BASE_LAYOUTS + (QUICK_SCALED if q else SCALED_LAYOUTS))
    if a.no_scaled:
        a.layouts = ",".join(n for n in a.layouts.split(",") if n not in SCALED_LAYOUTS)
    unknown = [n for n in a.layouts.split(",") if n and n not in LAYOUTS]
    if unknown:
        ap.error(f"unknown layout(s) {', '.join(unknown)}; known: {', '.join(LAYOUTS)}")
    a.nats_server = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK) else None)
    a.bin_dir = os.path.abspath(a.bin_dir)
    cores = os.cpu_count() or 1
    online = sorted(os.sched_getaffinity(0))
    a.server_cpus = a.server_cpus or str(online[0])
    a.wrk_cpus = a.wrk_cpus or (str(online[1]) if len(online) > 1 else str(online[0]))
    a.server_cpu_set = {int(x) for x in a.server_cpus.split(",")}
    a.wrk_cpu_set = {int(x) for x in a.wrk_cpus.split(",")}
    a.all_cpus = cpu_list(set(online) | a.server_cpu_set | a.wrk_cpu_set)  # for what is not measured
    a.nginx_proxy = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    a.nginx = None if a.no_nginx else a.nginx_proxy
    os.makedirs(a.out, exist_ok=True)

    # The driver (and whatever it runs unpinned) stays on the load generator's core.
    try:
        os.sched_setaffinity(0, a.wrk_cpu_set)
    except OSError:
        pass
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGHUP, on_sigterm)

    results = {
        "config": {
            "quick": q, "duration": a.duration, "warmup": a.warmup, "repeats": a.repeats, "conns": a.conns,
            "products": a.products, "users": a.users, "server_cpus": a.server_cpus, "wrk_cpus": a.wrk_cpus,
            "wrk_own_core": not (a.server_cpu_set & a.wrk_cpu_set), "cores": cores, "cpu_model": cpu_model(),
            "kernel": platform.release(), "commit": git_commit(), "bin_dir": a.bin_dir,
            "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "micro_repetitions": a.micro_repetitions, "command": a.command, "server_threads": a.server_threads,
            "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
            "split_products": SPLIT_PRODUCTS, "split_replicas": SPLIT_REPLICAS,
            "monolith_replicas": MONOLITH_REPLICAS, "no_scaled": a.no_scaled,
            "nats_server": a.nats_server, "nats_version": nats_version(a.nats_server),
            "no_events": a.no_events, "events_samples": a.events_samples, "ladder_only": a.ladder_only,
        },
        "layouts": {}, "notes": list(a.note),
    }
    P = Procs(a.work)
    t_start = time.monotonic()
    rc = 0
    try:
        layouts = [n for n in LAYOUTS if n in a.layouts.split(",")]
        splits = [n for n in layouts if n in SPLIT_PRODUCTS]
        if splits:
            missing = [e for e in SPLIT_EXES if not os.access(os.path.join(a.bin_dir, e), os.X_OK)]
            why = (f"{', '.join(missing)} not in {a.bin_dir} (build with -DSHOP_SPLIT=ON)" if missing else
                   None if a.nats_server else "no nats-server (apt-get install nats-server): the services find "
                   "each other through its registry")
            if why:
                msg = f"{' and '.join(splits)} layout{'s' if len(splits) > 1 else ''} skipped: {why}"
                log(msg)
                results["notes"].append(msg)
                layouts = [n for n in layouts if n not in splits]
        scaled = [n for n in layouts if n in PG_LAYOUTS]
        if scaled and not pg_installed():
            msg = (f"the scaled layouts ({', '.join(scaled)}) were skipped: PostgreSQL 15 is not installed "
                   f"(no initdb/postgres/pg_isready/psql in {PG_BIN}; apt-get install postgresql-15)")
            log(msg)
            results["notes"].append(msg)
            layouts = [n for n in layouts if n not in scaled]
        if "monolith-pg2" in layouts and not a.nginx_proxy:
            msg = "monolith-pg2 was skipped: it needs nginx (its load balancer; apt-get install nginx)"
            log(msg)
            results["notes"].append(msg)
            layouts.remove("monolith-pg2")
        for name in layouts:
            try:
                bench_layout(P, a, name, results)
            except Stop:
                raise
            except Exception as e:  # noqa: BLE001 - report it and go on with the other layouts
                msg = f"{name} layout failed: {e}"
                log(msg)
                results["notes"].append(msg.splitlines()[0])
                results["layouts"].setdefault(name, {})["error"] = str(e)
                rc = 1
        if "monolith" in layouts:
            try:
                bench_nginx_row(P, a, results)
            except Stop:
                raise
            except Exception as e:  # noqa: BLE001
                log(f"nginx reference failed: {e}")
                results.setdefault("nginx", {})["error"] = str(e)
                rc = 1
        try:
            rc = peer.bench_peer(P, a, results, sys.modules[__name__]) or rc
        except Stop:
            raise
        except Exception as e:  # noqa: BLE001
            log(f"peer row failed: {e}")
            results.setdefault("peer", {})["error"] = str(e)
            rc = 1
        if not a.no_micro:
            bench_micro(P, a, results)
        elif not a.no_events:
            results["micro_events"] = {"skipped": "--no-micro"}
        if not a.no_ladder:
            ladder.run(sys.modules[__name__], P, a, results, log)
    except (KeyboardInterrupt, Stop) as e:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the clean-up finish
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        log(f"interrupted ({e or 'Ctrl-C'}); stopping everything")
        P.stop_all()
        return 130
    finally:
        P.stop_all()

    results["config"]["total_s"] = time.monotonic() - t_start
    add_events_cost(results)
    chart_path = os.path.join(a.out, "chart.png")
    how = write_chart(results, chart_path)
    results["chart"] = chart_path if how else None
    if not how:
        results["notes"].append("no chart: neither matplotlib nor gnuplot worked")
    for layout in results["layouts"].values():
        layout.pop("data_dir", None)
        layout.pop("tokens", None)
        if "seed" in layout:
            layout["seed"].pop("product_body", None)
    results["failures"] = failures(results)
    report = write_report(results, a.out)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    print()
    print(results_table(results))
    if scaled_names(results):
        print()
        print(scaled_table(results))
    ng = results.get("nginx", {})
    if "nginx" in ng and "shop" in ng:
        print(f"\nnginx (1 worker, static {ng.get('body_bytes')} B) {ng['nginx']['rps']:,.0f} req/s; "
              f"shop --threads 1 GET /products/{{id}} {ng['shop']['rps']:,.0f} req/s "
              f"({ng['shop']['rps'] / ng['nginx']['rps']:.2f}× nginx)")
    for name, v in results.get("micro", {}).get("rows", {}).items():
        if "real_us" in v:
            print(f"micro {name}: {v['real_us']:.2f} µs per call")
    for name, v in (results.get("micro_events") or {}).get("rows", {}).items():
        if "cpu_us" in v:
            print(f"micro {name}: {v['cpu_us']:.1f} µs CPU per order")
    for line in peer.summary_lines(results):
        print(line)
    for line in ev.summary_lines(results, LAYOUTS) + ladder.summary_lines(results):
        print(line)
    for note in results["notes"]:
        print(f"note: {note}")
    q = quietness(results)
    if q:
        print(("WARNING: the machine was not quiet: " if q[1] else "quiet: ") + q[0])
    print(f"\nreport: {report}" + (f"\nchart:  {chart_path}" if how else "") +
          f"\n(total {results['config']['total_s']:.0f} s)")
    sys.stdout.flush()
    for where, why in results["failures"]:
        print(f"bench: FAILED: {where}: {why}", file=sys.stderr)
    if results["failures"]:
        print(f"bench: the run FAILED its self-checks ({len(results['failures'])}; report section \"Self-checks\")",
              file=sys.stderr)
        rc = 1
    elif rc:
        print("bench: the run FAILED (see the notes above)", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
