"""The events section of bench/run.sh (bench/README.md, "Events"); used by bench.py. Stdlib only.

- Per-thread CPU of a layout's processes (/proc/PID/task/TID/stat and schedstat), grouped by thread name,
  which bench.py records for every measured wrk run.
- Cancel -> stock back: place an order of 1 unit, read the stock, cancel, then read the product as fast as
  possible until the stock is back (API.md: within 1 s; it travels as the order_cancelled event).
- The cost of events per order: the relay threads' CPU during the POST /orders runs, the products
  JetStream consumer threads' (when they have a name of their own), nats-server's CPU above its rate
  without events (split), and the outbox rows in the order's transactions (micro-benchmark
  shop-bench-events), against the whole layout's CPU per order.
"""

import http.client
import json
import math
import os
import re
import statistics
import time

import seed  # bench/lib/seed.py: the keep-alive client

RELAY_THREAD = "outbox-relay"  # events::Relay names its thread (modules/events/src/events.cpp)
# Names (comm) of the threads of a products process that consume events from JetStream in the split layout.
# Their CPU counts as events' only when they have a name of their own: unnamed threads carry the process's
# name and do other work too.
CONSUMER_THREADS = ("event-consumer",)
CANCEL_LIMIT_S = 1.0  # API.md: a cancel's stock is back within 1 second while products is up
GIVE_UP_S = 5.0       # after this the stock counts as not back at all
MAX_LOST = 3          # stop sampling after this many cancels whose stock never came back
MAX_ERRORS = 5        # or after this many failed requests
PRODUCT_STOCK = 1_000_000

MICRO_CASES = ["Outbox/OrderTx/NoEvents", "Outbox/OrderTx/WithEvents", "Outbox/OrderTx/WithEventsAndRelay"]


# ---------------------------------------------------------------------------------------------
# Per-thread CPU


def thread_cpu(pid):
    """{tid: (name, utime+stime ticks, ns on CPU or None)} for every thread of `pid` (threads that end while
    this reads are left out)."""
    out = {}
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return out
    for tid in tids:
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(base + "/stat") as f:
                s = f.read()
            name = s[s.index("(") + 1:s.rindex(")")]
            fields = s.rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])  # utime + stime, fields 14 and 15 of stat
        except (OSError, ValueError, IndexError):
            continue
        try:
            with open(base + "/schedstat") as f:
                ns = int(f.read().split()[0])  # time spent on a CPU, ns (needs schedstats in the kernel)
        except (OSError, ValueError, IndexError):
            ns = None
        out[tid] = (name, ticks, ns)
    return out


def thread_cpu_delta(before, after, clk_tck):
    """({name: CPU s from stat}, {name: CPU s from schedstat}) between two thread_cpu() readings of one
    process; a thread started in between counts from zero."""
    stat, sched = {}, {}
    for tid, (name, ticks, ns) in after.items():
        _, t0, n0 = before.get(tid, (name, 0, 0))
        stat[name] = stat.get(name, 0.0) + (ticks - t0) / clk_tck
        if ns is not None and n0 is not None:
            sched[name] = sched.get(name, 0.0) + (ns - n0) / 1e9
    return stat, sched


def threads_by_name(pids):
    """{process: {thread name: count}}."""
    out = {}
    for proc, pid in pids.items():
        counts = {}
        for name, _, _ in thread_cpu(pid).values():
            counts[name] = counts.get(name, 0) + 1
        out[proc] = counts
    return out


# ---------------------------------------------------------------------------------------------
# Cancel -> stock back


class Client:
    """seed.Conn (one keep-alive connection, reconnecting once) whose call() returns (status, decoded
    JSON or None, seconds from send to the whole answer read), or (None, None, None) on failure."""

    def __init__(self, port, timeout=GIVE_UP_S):
        self.conn = seed.Conn(f"http://127.0.0.1:{port}", timeout=timeout)

    def call(self, method, path, body=None, token=None):
        t0 = time.perf_counter()
        try:
            status, payload = self.conn.call(method, path, body, token)
        except (http.client.HTTPException, OSError):
            return None, None, None
        seconds = time.perf_counter() - t0
        try:
            decoded = json.loads(payload) if payload else None
        except ValueError:
            decoded = None
        return status, decoded, seconds

    def close(self):
        self.conn.close()


BACKLOG = re.compile(r"^shop_outbox_backlog\{[^}]*\} (\d+)", re.M)


def outbox_backlog(ports):
    """Events committed but not yet accepted, summed over every relay of these processes (their /metrics);
    None when a process did not answer."""
    total = 0
    for port in ports:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
        try:
            c.request("GET", "/metrics")
            r = c.getresponse()
            text = r.read().decode(errors="replace")
        except (http.client.HTTPException, OSError):
            return None
        finally:
            c.close()
        if r.status != 200:
            return None
        total += sum(int(x) for x in BACKLOG.findall(text))
    return total


def wait_drained(ports, timeout):
    """Until every outbox of these processes is drained (backlog 0 twice in a row), or `timeout`.
    Returns (drained, seconds waited, last backlog seen)."""
    t0 = time.monotonic()
    zeros, backlog = 0, None
    while time.monotonic() - t0 < timeout:
        backlog = outbox_backlog(ports)
        zeros = zeros + 1 if backlog == 0 else 0
        if zeros >= 2:
            return True, time.monotonic() - t0, 0
        time.sleep(0.05)
    return False, time.monotonic() - t0, backlog


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list: an observed value, no interpolation."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def sample_cancels(port, admin_email, admin_password, user_token, n, log):
    """`n` samples of cancel -> stock back through `port` (the monolith, or the split layout's gateway).
    Each: POST /orders of 1 unit of a product of its own, GET the stock, POST /orders/{id}/cancel, then GET
    /products/{id} back to back until the stock is 1 higher; latency = from sending the cancel to the end of
    the first read that shows it. Returns the figures and every failure."""
    out = {"samples_wanted": n, "latency_ms": [], "cancel_ms": [], "polls": [], "last_get_ms": [],
           "late": [], "lost": 0, "errors": [], "limit_s": CANCEL_LIMIT_S, "give_up_s": GIVE_UP_S}
    c = Client(port)
    try:
        status, body, _ = c.call("POST", "/auth/token", {"email": admin_email, "password": admin_password})
        if status != 200:
            raise RuntimeError(f"admin sign-in: {status}")
        admin = body["access_token"]
        status, body, _ = c.call("POST", "/products", {
            "sku": f"bench-events-{int(time.time() * 1000)}", "name": "Bench events: cancel", "price_cents": 100,
            "stock": PRODUCT_STOCK}, admin)
        if status != 201:
            raise RuntimeError(f"POST /products: {status} {body}")
        product = body["id"]
        path = f"/products/{product}"
        status, p, _ = c.call("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} of the product just created: {status}")
        expected = p["stock"]  # what the stock must be once every accepted cancel's stock is back
        t_start = time.monotonic()
        for i in range(n):
            if out["lost"] >= MAX_LOST or len(out["errors"]) >= MAX_ERRORS:
                out["stopped_early"] = (f"stopped after {i} of {n} samples: {out['lost']} not back in "
                                        f"{GIVE_UP_S:.0f} s, {len(out['errors'])} failed requests")
                break
            status, order, _ = c.call("POST", "/orders", {"items": [{"product_id": product, "quantity": 1}]},
                                      user_token)
            if status != 201:
                out["errors"].append(f"POST /orders: {status} {order}")
                continue
            expected -= 1
            status, p, _ = c.call("GET", path)
            if status != 200:
                out["errors"].append(f"GET {path}: {status}")
                continue
            before = p["stock"]
            t0 = time.perf_counter()
            status, cancelled, cancel_s = c.call("POST", f"/orders/{order['id']}/cancel", None, user_token)
            if status != 200 or (cancelled or {}).get("status") != "cancelled":
                out["errors"].append(f"POST /orders/{order['id']}/cancel: {status} {cancelled}")
                continue
            expected += 1
            polls, back = 0, None
            while True:
                status, p, get_s = c.call("GET", path)
                polls += 1
                now = time.perf_counter()
                if status == 200 and p["stock"] >= before + 1:
                    back = now - t0
                    break
                if status != 200 and status is not None:
                    out["errors"].append(f"GET {path}: {status}")
                if now - t0 > GIVE_UP_S:
                    break
            if back is None:
                out["lost"] += 1
                log(f"cancel of order {order['id']}: stock not back after {GIVE_UP_S:.0f} s ({polls} reads)")
                continue
            out["latency_ms"].append(back * 1000)
            out["cancel_ms"].append(cancel_s * 1000)
            out["polls"].append(polls)
            out["last_get_ms"].append(get_s * 1000)
            if back > CANCEL_LIMIT_S:
                out["late"].append(back * 1000)
        out["wall_s"] = time.monotonic() - t_start
        # Exactly once: no stock given back twice (a repeat would show up as more than expected).
        if out["lost"] == 0:
            time.sleep(0.3)
            status, p, _ = c.call("GET", path)
            out["final_stock"], out["expected_stock"] = (p or {}).get("stock"), expected
            if status != 200 or p["stock"] != expected:
                out["errors"].append(f"stock after the samples is {(p or {}).get('stock')}, expected {expected} "
                                     f"(every accepted cancel's unit back exactly once)")
    finally:
        c.close()
    return out


def cancel_summary(x):
    lat = x.get("latency_ms") or []
    s = {"samples": len(lat), "late": len(x.get("late", [])), "lost": x.get("lost", 0),
         "errors": len(x.get("errors", []))}
    if lat:
        s.update({"p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99), "max_ms": max(lat),
                  "mean_ms": statistics.fmean(lat), "cancel_p50_ms": percentile(x["cancel_ms"], 50),
                  "get_p50_ms": percentile(x["last_get_ms"], 50),
                  # From the cancel's answer to the read that showed the stock: what is left of the latency
                  # once the cancel request itself is taken out.
                  "after_p50_ms": percentile([t - c for t, c in zip(lat, x["cancel_ms"])], 50),
                  "after_p99_ms": percentile([t - c for t, c in zip(lat, x["cancel_ms"])], 99),
                  "first_read": sum(1 for p in x["polls"] if p == 1), "polls_max": max(x["polls"])})
    return s


def failures(results):
    """Why the events section fails the run: a cancel whose stock was not back within the limit (or at all),
    a request that failed, or a layout whose events section could not run."""
    out = []
    for name, res in results.get("layouts", {}).items():
        e = res.get("events")
        if not e or e.get("skipped"):
            continue
        if e.get("error"):
            out.append(f"{name}: the events section failed: {e['error'].splitlines()[0]}")
            continue
        x = e.get("cancel", {})
        s = cancel_summary(x)
        if s["lost"]:
            out.append(f"{name}: {s['lost']} cancel(s) whose stock was not back after {x['give_up_s']:.0f} s")
        if s["late"]:
            out.append(f"{name}: {s['late']} cancel(s) whose stock came back after more than "
                       f"{x['limit_s']:.0f} s (API.md's limit): " + ", ".join(f"{v:.0f} ms" for v in x["late"][:5]))
        if s["errors"]:
            out.append(f"{name}: {s['errors']} failed request(s) or check(s), e.g. {x['errors'][0]}")
        if x.get("stopped_early"):
            out.append(f"{name}: {x['stopped_early']}")
    return out


# ---------------------------------------------------------------------------------------------
# Cost of events per order


def micro_parts(micro):
    """(outbox rows µs, committing thread with a live relay µs, relay µs per order in the micro) per order
    from the shop-bench-events rows, each None when not measured."""
    rows = (micro or {}).get("rows", {})
    none_, with_, relay = (rows.get(k) for k in MICRO_CASES)
    ok = lambda r: r and "cpu_us" in r  # noqa: E731
    outbox = with_["cpu_us"] - none_["cpu_us"] if ok(none_) and ok(with_) else None
    live = relay["cpu_us"] - with_["cpu_us"] if ok(relay) and ok(with_) else None
    relay_thread = relay.get("relay_cpu_us") if ok(relay) else None
    return outbox, live, relay_thread


def cost(res, micro, conns):
    """The cost of events per order for one layout, in µs, from its POST /orders runs at the highest connection
    count (medians over repeats) and the micro-benchmark."""
    c = str(max(conns))
    order = res.get("workloads", {}).get("order", {}).get(c)
    if not order:
        return {"skipped": "the POST /orders workload did not run"}
    runs = [r for r in order["runs"] if r.get("requests")]
    if not runs or "cpu_by_thread" not in runs[0]:
        return {"skipped": "no per-thread CPU recorded for the POST /orders runs"}

    def per_order_us(seconds, r):
        return seconds / r["requests"] * 1e6

    def named(r, key, names, procs=None):
        return sum(v for proc, by in r.get(key, {}).items() if procs is None or procs(proc)
                   for n, v in by.items() if n in names)

    tb = res.get("events", {}).get("threads_by_name", {})
    out = {"conns": int(c), "repeats": len(runs), "orders": sum(r["requests"] for r in runs)}
    out["with_us"] = statistics.median(per_order_us(r["cpu_s"], r) for r in runs)
    out["relay_us"] = statistics.median(per_order_us(named(r, "cpu_by_thread", {RELAY_THREAD}), r) for r in runs)
    if all(r.get("sched_by_thread") for r in runs):
        out["relay_sched_us"] = statistics.median(
            per_order_us(named(r, "sched_by_thread", {RELAY_THREAD}), r) for r in runs)
    out["relay_threads"] = {proc: by.get(RELAY_THREAD, 0) for proc, by in tb.items()}
    is_products = lambda proc: proc.startswith("products")  # noqa: E731
    consumer_names = sorted({n for proc, by in tb.items() if is_products(proc) for n in by if n in CONSUMER_THREADS})
    split = "nats" in runs[0].get("cpu_by_proc", {})
    if split:
        if consumer_names:
            out["consumer_threads"] = consumer_names
            out["consumer_us"] = statistics.median(
                per_order_us(named(r, "cpu_by_thread", set(consumer_names), is_products), r) for r in runs)
        else:
            out["consumer_us"] = None
            out["consumer_note"] = ("the products process has no thread named for its JetStream consumer "
                                    "(thread names: " + ", ".join(sorted({n for proc, by in tb.items()
                                                                          if is_products(proc) for n in by})) + ")")
        health = res.get("workloads", {}).get("health", {}).get(c)
        if health:
            rate = lambda rr: statistics.median(r["cpu_by_proc"]["nats"] / r["wall_s"] for r in rr)  # noqa: E731
            extra = rate(runs) - rate(health["runs"])
            out["nats_us"] = extra / statistics.median(r["requests"] / r["wall_s"] for r in runs) * 1e6
        else:
            out["nats_us"] = None
            out["nats_note"] = "no /health/live run to take nats-server's rate without events from"
    outbox, live, micro_relay = micro_parts(micro)
    out["outbox_us"], out["live_relay_us"], out["micro_relay_us"] = outbox, live, micro_relay
    if outbox is None:
        out["micro_note"] = (micro or {}).get("skipped") or "shop-bench-events did not run"
    parts = [out["relay_us"], out.get("consumer_us"), out.get("nats_us"), outbox, live]
    out["events_us"] = sum(p for p in parts if p is not None)
    out["complete"] = outbox is not None and live is not None and (not split or out.get("nats_us") is not None)
    out["without_us"] = out["with_us"] - out["events_us"]
    out["increase"] = out["with_us"] / out["without_us"] - 1 if out["without_us"] > 0 else None
    return out


# ---------------------------------------------------------------------------------------------
# Report


def _f(v, digits=1):
    return "–" if v is None else f"{v:.{digits}f}"


def report_section(results, layouts, fmt_cpu_note):
    """The report's "Events" section (Markdown lines)."""
    L, cfg = results["layouts"], results["config"]
    names = [n for n in layouts if L.get(n, {}).get("events")]
    md = ["## Events\n"]
    if not names:
        md.append("Not run" + (" (--no-events)." if cfg.get("no_events") else ".") + "\n")
        return md
    md.append("Domain events (PLATFORM.md \"Events\") are written to each module's outbox in the transaction of the "
              "change and published after commit by a relay thread per module database (`outbox-relay`). A cancel's "
              "stock travels as the `order_cancelled` event: products gives it back when the event reaches its "
              "consumer (in process in the monolith; over JetStream in the split layouts). API.md allows 1 s.\n")
    md.append("### Cancel → stock back\n")
    n_wanted = max((L[n]["events"].get("cancel", {}).get("samples_wanted", 0) for n in names), default=0)
    md.append(f"Per layout, {n_wanted} samples, one after the other, on a product of their own (stock "
              f"{PRODUCT_STOCK:,}), once the layout is idle after its workloads and every outbox is drained: `POST "
              f"/orders` of 1 unit, `GET /products/{{id}}`, `POST /orders/{{id}}/cancel`, then `GET /products/{{id}}` "
              f"back to back (one keep-alive connection{', through the gateway for split' if any(n != 'monolith' for n in names) else ''}) "
              f"until the stock is 1 higher. *Latency*: from sending the cancel to the end of the first read that "
              f"shows the stock back. It includes the cancel's own answer (*cancel answered*; *after the answer* is "
              f"the latency less that sample's cancel answer, the part event delivery can be in) and **up to one "
              f"GET's round trip of resolution** (the stock may have come back just after the previous read was served), "
              f"so a stock already back at the first read (*back at 1st read*) means the event was delivered faster "
              f"than this can resolve. The client is Python on CPU {cfg['wrk_cpus']}; its reads share the server core "
              f"with the relay. p50/p99 are nearest-rank over the samples (with 50 samples, p99 is the largest). "
              f"*Late*: back after more than {CANCEL_LIMIT_S:.0f} s (API.md's limit); *not back*: not within "
              f"{GIVE_UP_S:.0f} s. Either fails the run, as does a failed request or a unit given back twice (the "
              f"stock after the samples must equal what was put in).\n")
    md.append("| layout | samples | p50 ms | p99 ms | max ms | mean ms | back at 1st read | cancel answered p50 ms | "
              "after the answer p50 / p99 ms | one GET p50 ms (resolution) | late (> 1 s) | not back | errors |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    for n in names:
        e = L[n]["events"]
        if e.get("skipped"):
            md.append(f"| {n} | skipped | | | | | | | | | | | |")
            notes.append(f"- {n}: {e['skipped']}")
            continue
        if e.get("error"):
            md.append(f"| {n} | **failed** | | | | | | | | | | | |")
            notes.append(f"- {n}: {e['error'].splitlines()[0]}")
            continue
        x = e["cancel"]
        s = cancel_summary(x)
        md.append(f"| {n} | {s['samples']} | {_f(s.get('p50_ms'), 2)} | {_f(s.get('p99_ms'), 2)} | "
                  f"{_f(s.get('max_ms'), 2)} | {_f(s.get('mean_ms'), 2)} | "
                  + (f"{s['first_read']}/{s['samples']}" if s["samples"] else "–")
                  + f" | {_f(s.get('cancel_p50_ms'), 2)} | {_f(s.get('after_p50_ms'), 2)} / {_f(s.get('after_p99_ms'), 2)} | "
                  f"{_f(s.get('get_p50_ms'), 2)} | "
                  f"{'**' + str(s['late']) + '**' if s['late'] else 0} | {'**' + str(s['lost']) + '**' if s['lost'] else 0} | "
                  f"{'**' + str(s['errors']) + '**' if s['errors'] else 0} |")
        if e.get("drain"):
            d = e["drain"]
            notes.append(f"- {n}: outboxes drained {d['seconds']:.1f} s after the workloads" if d["drained"] else
                         f"- {n}: outboxes **not drained** after {d['seconds']:.0f} s (backlog {d['backlog']}); "
                         f"sampled anyway")
        if x.get("errors"):
            notes += [f"- {n}: {err}" for err in x["errors"][:5]]
        if x.get("stopped_early"):
            notes.append(f"- {n}: {x['stopped_early']}")
        if s["samples"] and s.get("polls_max", 1) > 1:
            notes.append(f"- {n}: the most reads a sample needed: {s['polls_max']}")
    md.append("")
    if notes:
        md += notes + [""]

    md.append("### Cost of events per order\n")
    c = max(cfg["conns"])
    md.append(f"µs of CPU per order (`POST /orders`, {c} connections, medians over the repeats; each order has 1–3 "
              f"lines, 2 on average, so it writes 1 `order_placed` and on average 2 `stock_changed` events).\n")
    md.append("| layout | with events (measured) | relay threads | JetStream consumer threads | nats-server above its rate without events | outbox rows in the order's transactions | committing thread with a live relay | events part | without events | events add | goal < 10% |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    cost_notes = []
    for n in names:
        k = L[n]["events"].get("cost")
        if not k:
            continue
        if k.get("skipped"):
            md.append(f"| {n} | {k['skipped']} | | | | | | | | | |")
            continue
        split = "nats_us" in k
        inc = k.get("increase")
        verdict = "–" if inc is None else ("meets" if inc < 0.10 else "**misses**")
        if inc is not None and not k.get("complete"):
            verdict += " (parts missing)"
        md.append(f"| {n} | {_f(k['with_us'])} | {_f(k['relay_us'])} | "
                  + (_f(k.get("consumer_us")) if split else "(on the relay threads)") + " | "
                  + (_f(k.get("nats_us")) if split else "n/a") + f" | {_f(k.get('outbox_us'))} | "
                  f"{_f(k.get('live_relay_us'))} | {_f(k['events_us'])} | {_f(k['without_us'])} | "
                  + ("–" if inc is None else f"{inc:+.1%}") + f" | {verdict} |")
        if k.get("relay_sched_us") is not None:
            cost_notes.append(f"- {n}: relay threads by schedstat (ns on CPU): {k['relay_sched_us']:.1f} µs per "
                              f"order, against {k['relay_us']:.1f} from stat; "
                              + ", ".join(f"{p} {t}" for p, t in k.get("relay_threads", {}).items() if t)
                              + f" relay thread(s); {k['orders']:,} orders measured.")
        for key in ("consumer_note", "nats_note", "micro_note"):
            if k.get(key):
                cost_notes.append(f"- {n}: {k[key]}.")
    md.append("")
    if cost_notes:
        md += cost_notes + [""]
    mr = (results.get("micro_events") or {}).get("rows", {})
    outbox, live, micro_relay = micro_parts(results.get("micro_events"))
    md.append("How each figure was obtained:\n")
    md.append(f"- **with events**: the layout's CPU per order in the `POST /orders` row of the results table "
              f"(utime+stime of every process of the layout from `/proc/PID/stat` before and after each run, over "
              f"the requests wrk completed). {fmt_cpu_note}")
    md.append(f"- **relay threads** (measured in the same runs): utime+stime of every thread named `{RELAY_THREAD}`, "
              f"from `/proc/PID/task/TID/stat` before and after each run, summed over the layout's processes, over "
              f"the orders. In the monolith the in-process consumers run on the relay threads (the bus delivers on the "
              f"publishing relay's thread), so their work is in this figure; in the split layouts the relay threads "
              f"also wait for JetStream's ack of each publish. schedstat's time on CPU is given beside it as a "
              f"cross-check (stat counts in {1000 // os.sysconf('SC_CLK_TCK')} ms clock ticks).")
    md.append("- **JetStream consumer threads** (split): the CPU of the products process's threads whose name "
              "marks them as its JetStream consumer" + (f" ({', '.join(CONSUMER_THREADS)})" if CONSUMER_THREADS else
                                                        ": none has a name of its own in this build (the consumer's "
                                                        "fetch loop and libnats' threads carry the process's name), "
                                                        "so this part is not separable and stays in *without "
                                                        "events*") + ". Products consumes only `order_cancelled`, "
              "which `POST /orders` does not produce: during these runs the consumer only waits on its fetches, so "
              "its part of an order's cost is small either way.")
    md.append("- **nats-server above its rate without events** (split): its CPU per second during the `POST /orders` "
              "runs minus its CPU per second during the `/health/live` runs of the same layout (registry heartbeats "
              "only; no request passes through NATS), over the orders per second: what storing the events in "
              "JetStream and delivering them costs the broker.")
    md.append("- **outbox rows in the order's transactions** (micro-benchmark, `shop-bench-events`): CPU of "
              "`Outbox/OrderTx/WithEvents` minus `Outbox/OrderTx/NoEvents`: building an `order_placed` and 2 "
              "`stock_changed` events as the modules do and `events::AddToOutbox` for each, in a write transaction "
              "that inserts an order and 2 lines on a real SQLite file in WAL mode opened as orders opens its "
              "database (its migrations, the shared event tables among them); the larger commit is included. In "
              "the shop the `stock_changed` rows go into products' reservation transaction, so there are two commits, "
              "not one.")
    md.append("- **committing thread with a live relay** (micro-benchmark): `Outbox/OrderTx/WithEventsAndRelay` minus "
              "`WithEvents`, the benchmark thread's CPU only: waking the relay after each commit and sharing the file "
              "with its reads and cursor writes (more WAL, more checkpoints). It counts one commit per order; an order "
              "makes three with a relay listening (orders' saga start and record, products' reservation), so the "
              "wake-ups of two are not in it.")
    md.append("- **events part** = the parts above; **without events** = with events − events part; **events add** = "
              "with / without − 1, against the goal of under 10% more CPU per order. **The events part is a lower "
              "bound**, so *without events* is an upper bound and *events add* a lower bound: work the events cause "
              "that no thread name or micro-benchmark isolates stays in *without events* — on the request threads, "
              "the checkpoints and WAL growth caused by the relays' cursor writes beyond what the micro-benchmark "
              "reproduces, waits for the write lock the relays share, the context switches of waking a relay on the "
              "same core; in the split layouts, the NATS client's reading of JetStream acks on unnamed threads.")
    md.append("")
    if mr:
        md.append("### Micro-benchmark: the outbox in an order's transaction\n")
        md.append(f"`shop-bench-events` (bench/micro/events_bench.cpp) on CPU {cfg['wrk_cpus']}, "
                  + (f"median of {cfg['micro_repetitions']} repetitions" if cfg["micro_repetitions"] > 1 else
                     "one repetition") + "; CPU is the benchmark thread's.\n")
        md.append("| case | CPU µs per order | wall µs per order | relay thread CPU µs per order |")
        md.append("|---|---:|---:|---:|")
        for name in MICRO_CASES:
            v = mr.get(name)
            if not v:
                continue
            if "error" in v:
                md.append(f"| {name} | error: {v['error']} | | |")
            else:
                md.append(f"| {name} | {v['cpu_us']:.1f} | {v['real_us']:.1f} | {_f(v.get('relay_cpu_us'))} |")
        if micro_relay is not None:
            md.append(f"\nThe relay thread spent {micro_relay:.1f} µs per order there (each order's 3 events "
                      f"published one by one, a cursor write each, to a publisher that accepts at once): compare "
                      f"with the relay threads' figure under load above, where batches are larger.")
        md.append("")
    elif results.get("micro_events", {}).get("skipped"):
        md.append(f"Micro-benchmark `shop-bench-events`: skipped ({results['micro_events']['skipped']}).\n")

    md.append("### Threads by name\n")
    md.append("Per process, its threads by name (`/proc/PID/task/TID/comm`) and their CPU per order in the "
              f"`POST /orders` run ({c} connections), µs: how the events part above was told apart.\n")
    md.append("| layout | process | threads (name × count): µs per order |")
    md.append("|---|---|---|")
    for n in names:
        tb = L[n]["events"].get("threads_by_name") or {}
        order = L[n].get("workloads", {}).get("order", {}).get(str(c), {}).get("runs", [])
        for proc, counts in tb.items():
            cells = []
            for tname, count in sorted(counts.items(), key=lambda kv: -kv[1]):
                vals = [r["cpu_by_thread"].get(proc, {}).get(tname, 0) / r["requests"] * 1e6 for r in order
                        if r.get("requests") and "cpu_by_thread" in r]
                cells.append(f"`{tname}` × {count}" + (f": {statistics.median(vals):.1f}" if vals else ""))
            md.append(f"| {n} | {proc} | " + ", ".join(cells) + " |")
    md.append("")
    return md


def summary_lines(results, layouts):
    """Lines printed at the end of the run."""
    L = results["layouts"]
    out = []
    for n in layouts:
        e = L.get(n, {}).get("events")
        if not e:
            continue
        if e.get("skipped"):
            out.append(f"events {n}: skipped ({e['skipped']})")
            continue
        if e.get("error"):
            out.append(f"events {n}: FAILED ({e['error'].splitlines()[0]})")
            continue
        s = cancel_summary(e["cancel"])
        line = (f"events {n}: cancel -> stock back p50 {_f(s.get('p50_ms'), 2)} ms, p99 {_f(s.get('p99_ms'), 2)} ms "
                f"over {s['samples']} samples (late {s['late']}, not back {s['lost']}, errors {s['errors']})")
        k = e.get("cost") or {}
        if k.get("increase") is not None:
            line += (f"; CPU per order {k['with_us']:.0f} µs, events {k['events_us']:.1f} µs, without "
                     f"{k['without_us']:.0f} µs: events add {k['increase']:+.1%}")
        out.append(line)
    return out
