#!/usr/bin/python3
"""Turn the raw wrk outputs of one `bench/run` into a table, a JSON file and
the issue's target checks.

Called by bench/run (not meant to be run by hand):

    report.py MANIFEST OUT_JSON [HISTORY_JSON]

MANIFEST is a tab-separated file written by bench/run.  Lines are one of
    run<TAB>target<TAB>label<TAB>conns<TAB>wrk_output_file
    cpu<TAB>target<TAB>conns<TAB>process name<TAB>user+system clock ticks during the measured run
    sse<TAB>subscribers<TAB>sse_load_json_file      (one JSON object, see bench/sse_load.cpp)
    sse_skip<TAB>subscribers<TAB>why
    meta<TAB>key<TAB>value
(meta keys: duration, warmup, repeat, wrk_threads, nproc, clk_tck, idle_conns, idle_rss_before_kb,
idle_rss_with_kb, idle_still_open, sse_messages, sse_rate, sse_problem, failure, ...).

Prints the table and the PASS/FAIL lines on stdout and writes the JSON.
Exit status is 0 unless the manifest itself is unreadable.
"""

import datetime
import json
import os
import re
import socket
import subprocess
import sys

# Targets (issues 3 and 8): Tempest against nginx in the same run.
RATIO_TARGET_CONNS = 100
RATIO_TARGET = 0.40           # any Tempest row, req/s / nginx's
TWO_WORKERS_RATIO_TARGET = 0.50  # the 2-worker row (a2), req/s / nginx's
RELIABLE_TARGET = 0.90        # reliable / plain worker req/s, 1 worker
P99_TARGET_CONNS = 1000
P99_TARGET_MS = 100.0
P99_VS_NGINX_TARGET = 1.5     # Tempest's p99 / nginx's p99 at P99_TARGET_CONNS

_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _time_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        return None
    return round(float(m.group(1)) * _TIME_UNITS_MS[m.group(2)], 3)


def parse_wrk(text):
    """Parse `wrk --latency` output. Returns a dict; 'ok' is False if wrk did not run."""
    res = {
        "ok": False,
        "rps": None,
        "requests": None,
        "p50_ms": None,
        "p75_ms": None,
        "p90_ms": None,
        "p99_ms": None,
        "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0, "non_2xx_3xx": 0},
        "error_total": 0,
        "problem": None,
    }
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if m:
        res["rps"] = float(m.group(1))
        res["ok"] = True
    m = re.search(r"^\s*(\d+) requests in ", text, re.M)
    if m:
        res["requests"] = int(m.group(1))
    dist = text.split("Latency Distribution", 1)
    if len(dist) == 2:
        for pct, val in re.findall(r"^\s*(50|75|90|99)%\s+(\S+)", dist[1], re.M):
            res["p%s_ms" % pct] = _time_ms(val)
    m = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if m:
        for key, val in zip(("connect", "read", "write", "timeout"), m.groups()):
            res["errors"][key] = int(val)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        res["errors"]["non_2xx_3xx"] = int(m.group(1))
    res["error_total"] = sum(res["errors"].values())
    if not res["ok"]:
        # Keep the first meaningful line wrk printed (e.g. "unable to connect ...").
        lines = [l.strip() for l in text.splitlines() if l.strip()]
        res["problem"] = lines[-1] if lines else "wrk produced no output"
    return res


def _fmt_ms(v):
    if v is None:
        return "-"
    if v < 1.0:
        return "%.0fus" % (v * 1000)
    if v < 1000.0:
        return "%.2fms" % v
    return "%.2fs" % (v / 1000)


def _git_commit(repo_dir):
    try:
        out = subprocess.run(
            ["git", "-C", repo_dir, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5,
        )
        if out.returncode == 0:
            commit = out.stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", repo_dir, "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=5,
            ).stdout.strip()
            return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def _print_wrk_table(runs, meta):
    header = ("target", "conns", "req/s", "p50", "p99", "errors", "vs nginx", "runs (req/s)")
    rows, notes = [], []
    for r in runs:
        if r["ok"]:
            err = str(r["error_total"])
            if r["error_total"]:
                detail = ",".join("%s=%d" % (k, v) for k, v in r["errors"].items() if v)
                err += " (" + detail + ")"
        else:
            notes.append("%s -c %d: wrk failed: %s" % (r["label"], r["conns"], r["problem"] or "?"))
            err = "wrk failed [%d]" % len(notes)
        rows.append((
            r["label"],
            str(r["conns"]),
            "%.0f" % r["rps"] if r["rps"] is not None else "-",
            _fmt_ms(r["p50_ms"]),
            _fmt_ms(r["p99_ms"]),
            err,
            "%.2f" % r["ratio_vs_nginx"] if r["ratio_vs_nginx"] is not None else "-",
            " ".join("%.0f" % v if v is not None else "-" for v in r.get("rps_all", [])),
        ))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    def fmt(cols):  # text columns left-aligned, numbers right-aligned
        out = []
        for i, c in enumerate(cols):
            out.append(c.ljust(widths[i]) if i in (0, 5, 7) else c.rjust(widths[i]))
        return "  ".join(out).rstrip()
    print()
    print("wrk -t%s, %s x %s per target (after %s warm-up; the median run shown), %s CPUs"
          % (meta.get("wrk_threads", "?"), meta.get("repeat", "1"), meta.get("duration", "?"),
             meta.get("warmup", "?"), meta.get("nproc", "?")))
    print(fmt(header))
    print(fmt(tuple("-" * w for w in widths)))
    for row in rows:
        print(fmt(row))
    for i, note in enumerate(notes, 1):
        print("[%d] %s" % (i, note))


def _median_runs(runs):
    """One row per (target, conns): the median run by req/s (BENCH_REPEAT runs each), with every
    run's req/s in rps_all and the requests of all of them (for CPU per request)."""
    groups, order = {}, []
    for r in runs:
        key = (r["target"], r["conns"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(r)
    out = []
    for key in order:
        group = groups[key]
        ok = sorted((r for r in group if r["ok"]), key=lambda r: r["rps"])
        row = dict(ok[(len(ok) - 1) // 2] if ok else group[0])
        row["rps_all"] = [r["rps"] for r in group]
        row["requests_all"] = sum(r["requests"] or 0 for r in group)
        row["error_total"] = max(r["error_total"] for r in group)  # the worst run's errors count
        out.append(row)
    return out


def _print_cpu_table(runs, tck):
    rows = [r for r in runs if r.get("cpu_us_per_request")]
    if not rows:
        return
    print()
    print("CPU time per request (us, user + system, from /proc/PID/stat at %d ticks/s):" % tck)
    for r in rows:
        parts = sorted(r["cpu_us_per_request"].items())
        total = sum(v for _, v in parts)
        print("  %-28s -c %-5d %s  (total %.1f)" % (r["label"], r["conns"],
              ", ".join("%s %.1f" % p for p in parts), total))


def _print_client_tables(rows, skipped, meta):
    """The workers-by-language table (w-* targets; ratio to the C++ reliable worker, w-cpp) and the
    gateways table (g-<app>-direct against g-<app>-gateway). Returns both as JSON-able lists."""
    def cpu_of(r, names):
        cpu = r.get("cpu_us_per_request") or {}
        return sum(v for k, v in cpu.items() if k not in names)
    langs = [r for r in rows if r["target"].startswith("w-")]
    ref = next((r for r in langs if r["target"] == "w-cpp" and r["ok"] and r["rps"]), None)
    lang_out = []
    print()
    conns = meta.get("clients_conns", "?")
    print("Workers by language: one worker process behind the front, wrk -c %s unless said, %s each "
          "(vs the C++ reliable worker; worker CPU us per request)" % (conns, meta.get("clients_duration", "?")))
    print("  %-34s %8s %9s %9s %7s %7s %9s" % ("worker", "req/s", "p50", "p99", "errors", "vs c++", "cpu us"))
    for r in langs:
        ratio = r["rps"] / ref["rps"] if (ref and r["ok"] and r["rps"]) else None
        worker_cpu = cpu_of(r, ("tempest", "redis-server"))
        print("  %-34s %8s %9s %9s %7s %7s %9s" % (
            r["label"].replace("worker: ", ""), "%.0f" % r["rps"] if r["rps"] else "-", _fmt_ms(r["p50_ms"]),
            _fmt_ms(r["p99_ms"]), r["error_total"] if r["ok"] else "failed",
            "%.2f" % ratio if ratio is not None else "-", "%.1f" % worker_cpu if worker_cpu else "-"))
        lang_out.append({"target": r["target"], "label": r["label"], "rps": r["rps"], "p50_ms": r["p50_ms"],
                         "p99_ms": r["p99_ms"], "errors": r["error_total"], "ratio_vs_cpp": ratio,
                         "worker_cpu_us_per_request": worker_cpu or None})
    for sk in skipped:
        if sk["target"].startswith("w-"):
            print("  %-34s %s" % (sk["label"].replace("worker: ", ""), sk["problem"]))
            lang_out.append({"target": sk["target"], "label": sk["label"], "problem": sk["problem"]})
    by_target = {r["target"]: r for r in rows}
    skipped_by_target = {sk["target"]: sk for sk in skipped}
    apps = []
    for t in [r["target"] for r in rows] + [sk["target"] for sk in skipped]:
        if t.startswith("g-"):
            app = t.rsplit("-", 1)[0]
            if app not in apps:
                apps.append(app)
    gw_out = []
    if apps:
        print()
        print("Gateways: the same app under its usual server, directly, and as a worker behind the front (-c %s)"
              % conns)
        print("  %-30s %9s %9s %9s %9s %9s" % ("app", "direct", "p99", "gateway", "p99", "ratio"))
        for app in apps:
            d, g = by_target.get(app + "-direct"), by_target.get(app + "-gateway")
            label = (d or g or {}).get("label") or (skipped_by_target.get(app + "-direct") or {}).get("label", app)
            label = label.replace(", directly", "")
            def col(r, key):
                if not r:
                    return "skipped"
                return ("%.0f" % r["rps"] if key == "rps" else _fmt_ms(r["p99_ms"])) if r["ok"] and r["rps"] else "failed"
            ratio = g["rps"] / d["rps"] if (d and g and d["ok"] and g["ok"] and d["rps"] and g["rps"]) else None
            print("  %-30s %9s %9s %9s %9s %9s" % (label, col(d, "rps"), col(d, "p99"), col(g, "rps"), col(g, "p99"),
                                                   "%.2f" % ratio if ratio is not None else "-"))
            gw_out.append({"app": app, "label": label, "direct_rps": d["rps"] if d else None,
                           "gateway_rps": g["rps"] if g else None, "gateway_vs_direct": ratio})
    return lang_out, gw_out


def _sse_row(parts):
    """One SSE run (or skipped count) from the manifest."""
    kind, n, rest = parts
    row = {"subscribers": int(n), "ok": False, "skipped": None, "problem": None}
    if kind == "sse_skip":
        row["skipped"] = rest
        return row
    try:
        with open(rest) as f:
            lines = [l for l in f.read().splitlines() if l.startswith("{")]
        row.update(json.loads(lines[-1]))
        row["ok"] = True
    except (OSError, IndexError, ValueError) as e:
        row["problem"] = "unreadable sse_load output (%s)" % e
    return row


def _print_sse_table(sse, meta):
    print()
    print("Server-Sent Events: N subscribers on one channel, %s messages PUBLISHed at %s/s; "
          "latency PUBLISH -> subscriber" % (meta.get("sse_messages", "?"), meta.get("sse_rate", "?")))
    header = ("N", "connected", "delivered/expected", "p50", "p99", "max", "KiB/subscriber",
              "Redis clients")
    rows, notes = [], []
    for r in sse:
        if not r["ok"]:
            notes.append("N=%d: %s" % (r["subscribers"], r["skipped"] and "skipped: " + r["skipped"]
                                       or r["problem"]))
            continue
        kib = r.get("kib_per_subscriber")
        rows.append((
            str(r["subscribers"]),
            str(r["connected"]),
            "%d/%d" % (r["delivered"], r["expected"]),
            _fmt_ms(r.get("p50_ms")),
            _fmt_ms(r.get("p99_ms")),
            _fmt_ms(r.get("max_ms")),
            "%.2f" % kib if kib is not None else "-",
            str(r.get("redis_clients", "-")),
        ))
        if r.get("failed"):
            notes.append("N=%d: %d connections failed (first: %s)"
                         % (r["subscribers"], r["failed"], r.get("first_error")))
        if r.get("closed"):
            notes.append("N=%d: %d streams closed by the front during the run" % (r["subscribers"], r["closed"]))
        if r.get("timed_out"):
            notes.append("N=%d: sse_load hit its time bound" % r["subscribers"])
        if r.get("processes", 1) > 1:
            notes.append("N=%d: sse_load used %d processes (hard RLIMIT_NOFILE %s per process)"
                         % (r["subscribers"], r["processes"], r.get("nofile_hard")))
        for n in r.get("notes") or []:
            notes.append("N=%d: %s" % (r["subscribers"], n))
    if meta.get("sse_problem"):
        notes.append(meta["sse_problem"])
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    print("  ".join(h.rjust(widths[i]) for i, h in enumerate(header)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.rjust(widths[i]) for i, c in enumerate(row)))
    for n in notes:
        print("  note: " + n)
    print("(Redis clients: INFO connected_clients during the run, sse_load's own connection included)")


STREAM_TARGET = 0.5  # streamed answers: MB/s through the front vs a plain loopback copy


def _print_stream_table(streams, meta):
    """The stream runs (MB/s, median per target) and their summary for the JSON."""
    print()
    if not streams:
        print("streamed answers: not measured (%s)" % meta.get("stream_problem"))
        return {"problem": meta.get("stream_problem")}
    by_target = {}
    for s in streams:
        s["mb_s"] = s["bytes"] / s["seconds"] / 1e6 if s["seconds"] > 0 else None
        by_target.setdefault(s["target"], []).append(s)
    print("streamed answers: %s bytes on one connection, read by curl (median of %s runs)"
          % (meta.get("stream_bytes", "?"), meta.get("repeat", "?")))
    medians = {}
    for target, rows in by_target.items():
        rates = sorted(r["mb_s"] for r in rows if r["mb_s"])
        medians[target] = rates[len(rates) // 2] if rates else None
        print("  %-45s %8.0f MB/s   (runs: %s)" % (rows[0]["label"], medians[target] or 0,
                                                  ", ".join("%.0f" % x for x in rates)))
    direct, front = medians.get("s-direct"), medians.get("s-front")
    ratio = round(front / direct, 3) if direct and front else None
    if ratio is not None:
        print("  streamed answer, front / plain socket: %.2f" % ratio)
    cat, spool = medians.get("u-cat"), medians.get("u-front")
    upload_ratio = round(spool / cat, 3) if cat and spool else None
    if upload_ratio is not None:
        print("  upload, front spool / cat file: %.2f" % upload_ratio)
    return {"bytes": int(meta.get("stream_bytes", "0") or 0), "direct_mb_s": direct, "front_mb_s": front,
            "ratio": ratio, "upload_cat_mb_s": cat, "upload_front_mb_s": spool, "upload_ratio": upload_ratio,
            "runs": streams}


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: report.py MANIFEST OUT_JSON [HISTORY_JSON]")
    manifest, out_json = sys.argv[1], sys.argv[2]
    history_json = sys.argv[3] if len(sys.argv) > 3 else None

    runs, meta, sse, cpu, skipped, streams = [], {}, [], {}, [], []
    with open(manifest) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] in ("sse", "sse_skip") and len(parts) == 3:
                sse.append(_sse_row(parts))
                continue
            if parts[0] == "stream" and len(parts) == 5:
                streams.append({"target": parts[1], "label": parts[2], "bytes": int(parts[3]),
                                "seconds": float(parts[4])})
                continue
            if parts[0] == "run" and len(parts) == 5:
                _, target, label, conns, path = parts
                try:
                    with open(path, errors="replace") as wf:
                        text = wf.read()
                except OSError:
                    text = ""
                row = {"target": target, "label": label, "conns": int(conns)}
                row.update(parse_wrk(text))
                runs.append(row)
            elif parts[0] == "cpu" and len(parts) == 5:
                _, target, conns, name, ticks = parts
                cpu.setdefault((target, int(conns)), {}).setdefault(name, 0)
                cpu[(target, int(conns))][name] += int(ticks)
            elif parts[0] == "meta" and len(parts) == 3:
                meta[parts[1]] = parts[2]
            elif parts[0] == "skip" and len(parts) == 4:
                skipped.append({"target": parts[1], "label": parts[2], "problem": parts[3]})

    runs = _median_runs(runs)
    nginx_rps = {r["conns"]: r["rps"] for r in runs if r["target"] == "nginx" and r["rps"]}
    for r in runs:
        base = nginx_rps.get(r["conns"])
        r["ratio_vs_nginx"] = round(r["rps"] / base, 3) if (r["rps"] is not None and base) else None

    tck = int(meta.get("clk_tck", "100") or 100)
    for r in runs:  # CPU microseconds per request, by process name (summed over same-named ones)
        ticks = cpu.get((r["target"], r["conns"]))
        total = r.get("requests_all") or r.get("requests")
        r["cpu_us_per_request"] = ({name: round(t * 1e6 / tck / total, 2) for name, t in ticks.items()}
                                   if ticks and total else None)

    # Rows of the workers-by-language part (w-*) and of the gateways (g-*) have tables of their own.
    client_runs = [r for r in runs if r["target"].startswith(("w-", "g-"))]
    runs = [r for r in runs if not r["target"].startswith(("w-", "g-"))]

    # ---- table -----------------------------------------------------------
    if runs:
        _print_wrk_table(runs, meta)
        _print_cpu_table(runs, tck)

    # ---- idle connections RSS ---------------------------------------------
    idle = None
    if "idle_rss_before_kb" in meta and "idle_rss_with_kb" in meta:
        before = int(meta["idle_rss_before_kb"])
        with_ = int(meta["idle_rss_with_kb"])
        n = int(meta.get("idle_conns", "0")) or 1
        idle = {
            "connections": int(meta.get("idle_conns", "0")),
            "still_open_at_end": int(meta["idle_still_open"]) if meta.get("idle_still_open", "").isdigit() else None,
            "rss_before_kb": before,
            "rss_with_idle_kb": with_,
            "per_connection_bytes": round((with_ - before) * 1024 / n),
        }
        print()
        print("front RSS: %d KiB idle, %d KiB with %d idle keep-alive connections "
              "(+%d KiB, %.1f KiB/connection)"
              % (before, with_, idle["connections"], with_ - before,
                 (with_ - before) / n))
        if idle["still_open_at_end"] is not None and idle["still_open_at_end"] != idle["connections"]:
            print("  note: only %d of %d connections were still open when released"
                  % (idle["still_open_at_end"], idle["connections"]))
    elif meta.get("idle_problem"):
        print()
        print("front RSS: not measured (%s)" % meta["idle_problem"])

    # ---- streamed answers -------------------------------------------------
    stream_summary = _print_stream_table(streams, meta) if streams or meta.get("stream_problem") else None

    # ---- Server-Sent Events ------------------------------------------------
    if sse or meta.get("sse_problem"):
        _print_sse_table(sse, meta)

    # ---- workers by language, gateways ------------------------------------
    languages = gateways = None
    if client_runs or skipped:
        languages, gateways = _print_client_tables(client_runs, skipped, meta)

    # ---- targets ----------------------------------------------------------
    checks = []
    tempest_targets = []
    for r in runs:
        if r["target"] not in ("nginx", "a0") and r["target"] not in tempest_targets:
            tempest_targets.append(r["target"])
    by_key = {(r["target"], r["conns"]): r for r in runs}
    for t in tempest_targets:
        label = next(r["label"] for r in runs if r["target"] == t)
        r = by_key.get((t, RATIO_TARGET_CONNS))
        name = "%s: req/s >= %.2f x nginx at -c %d with 0 errors" % (label, RATIO_TARGET, RATIO_TARGET_CONNS)
        if r is None or not r["ok"] or r["ratio_vs_nginx"] is None:
            checks.append({"check": name, "target": t, "result": "N/A", "value": None})
        else:
            ok = r["ratio_vs_nginx"] >= RATIO_TARGET and r["error_total"] == 0
            checks.append({"check": name, "target": t, "result": "PASS" if ok else "FAIL",
                           "value": "ratio %.2f, %d errors" % (r["ratio_vs_nginx"], r["error_total"])})
        r = by_key.get((t, P99_TARGET_CONNS))
        name = "%s: p99 < %.0f ms at -c %d" % (label, P99_TARGET_MS, P99_TARGET_CONNS)
        if r is None or not r["ok"] or r["p99_ms"] is None:
            checks.append({"check": name, "target": t, "result": "N/A", "value": None})
        else:
            ok = r["p99_ms"] < P99_TARGET_MS
            checks.append({"check": name, "target": t, "result": "PASS" if ok else "FAIL",
                           "value": "p99 %s" % _fmt_ms(r["p99_ms"])})
    nginx_by_conns = {r["conns"]: r for r in runs if r["target"] == "nginx" and r["ok"]}
    two = by_key.get(("a2", RATIO_TARGET_CONNS))
    if two:
        name = "tempest 2 workers: req/s >= %.2f x nginx at -c %d" % (TWO_WORKERS_RATIO_TARGET, RATIO_TARGET_CONNS)
        ok = two["ok"] and two["ratio_vs_nginx"] is not None
        checks.append({"check": name, "target": "a2",
                       "result": ("PASS" if two["ratio_vs_nginx"] >= TWO_WORKERS_RATIO_TARGET else "FAIL") if ok else "N/A",
                       "value": "ratio %.2f" % two["ratio_vs_nginx"] if ok else None})
    for c in sorted({r["conns"] for r in runs if r["target"] == "a2"}):
        one, two = by_key.get(("a1", c)), by_key.get(("a2", c))
        if not one:
            continue
        name = "tempest 2 workers: req/s >= 1 worker's at -c %d" % c
        ok = one["ok"] and two["ok"] and one["rps"] and two["rps"]
        checks.append({"check": name, "target": "a2",
                       "result": ("PASS" if two["rps"] >= one["rps"] else "FAIL") if ok else "N/A",
                       "value": "%.0f vs %.0f" % (two["rps"], one["rps"]) if ok else None})
    base = nginx_by_conns.get(P99_TARGET_CONNS)
    for t in tempest_targets:
        r = by_key.get((t, P99_TARGET_CONNS))
        if not r or not base:
            continue
        name = "%s: p99 <= %.1f x nginx's at -c %d" % (r["label"], P99_VS_NGINX_TARGET, P99_TARGET_CONNS)
        ok = r["ok"] and r["p99_ms"] and base["p99_ms"]
        checks.append({"check": name, "target": t,
                       "result": ("PASS" if r["p99_ms"] <= P99_VS_NGINX_TARGET * base["p99_ms"] else "FAIL") if ok else "N/A",
                       "value": "%s vs %s" % (_fmt_ms(r["p99_ms"]), _fmt_ms(base["p99_ms"])) if ok else None})
    # Reliable delivery (the workers' default) against plain BLMPOP (--mode plain), 1 worker.
    rel, plain = by_key.get(("a1", RATIO_TARGET_CONNS)), by_key.get(("a0", RATIO_TARGET_CONNS))
    if rel and plain:
        name = "tempest 1 worker: reliable req/s >= %.2f x plain at -c %d" % (RELIABLE_TARGET, RATIO_TARGET_CONNS)
        if rel["ok"] and plain["ok"] and rel["rps"] and plain["rps"]:
            ratio = rel["rps"] / plain["rps"]
            checks.append({"check": name, "target": "a1", "result": "PASS" if ratio >= RELIABLE_TARGET else "FAIL",
                           "value": "reliable/plain %.2f" % ratio})
        else:
            checks.append({"check": name, "target": "a1", "result": "N/A", "value": None})
    if stream_summary and stream_summary.get("ratio") is not None:
        r = stream_summary["ratio"]
        checks.append({"check": "streamed answer MB/s >= %.1f x a plain loopback socket copy (1 connection)" % STREAM_TARGET,
                       "target": "s-front", "result": "PASS" if r >= STREAM_TARGET else "FAIL",
                       "value": "%.0f vs %.0f MB/s, ratio %.2f" % (stream_summary["front_mb_s"],
                                                                  stream_summary["direct_mb_s"], r)})
    if checks:
        print()
        print("targets:")
        for c in checks:
            print("  %-4s  %s%s" % (c["result"], c["check"],
                                    " (%s)" % c["value"] if c["value"] else ""))

    # ---- JSON -------------------------------------------------------------
    repo_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    doc = {
        "schema": 1,
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "git_commit": _git_commit(repo_dir),
        "settings": {k: meta[k] for k in ("duration", "warmup", "repeat", "wrk_threads", "nproc",
                                          "nginx_version", "build_dir", "sse_messages",
                                          "sse_rate") if k in meta},
        "results": [
            {k: r[k] for k in ("target", "label", "conns", "ok", "rps", "requests",
                               "p50_ms", "p75_ms", "p90_ms", "p99_ms", "errors",
                               "error_total", "ratio_vs_nginx", "cpu_us_per_request", "rps_all", "problem")}
            for r in runs
        ],
        "idle_connections": idle,
        "sse": sse,
        "streams": stream_summary,
        "languages": languages,
        "gateways": gateways,
        "targets": checks,
        "failure": meta.get("failure"),
    }
    for path in filter(None, (out_json, history_json)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    print()
    print("results written to %s" % ", ".join(
        os.path.relpath(p) for p in (out_json, history_json) if p))


if __name__ == "__main__":
    main()
