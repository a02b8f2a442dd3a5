"""``gilwise status JOURNAL --serve [HOST:]PORT``: the status as a small local web page that
updates itself (a throughput plot in inline SVG, the items running now), and ``/status.json``.

The standard library's threaded HTTP server; each request reads the journal afresh,
read-only, so the page shows a live batch as it goes and a dead one as it was left.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_HOST = "127.0.0.1"  # this machine only, unless a host is given


def address(text: str) -> tuple[str, int]:
    """("127.0.0.1", 8000) from "8000"; (host, port) from "host:8000"."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
        if not 0 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise ValueError(f"--serve {text!r}: expected [HOST:]PORT, e.g. 8000 or "
                         "127.0.0.1:8000") from None
    return host.strip("[]") or DEFAULT_HOST, number


def serve(journal: str, host: str, port: int) -> int:
    """Serve until interrupted; the address goes to stderr first (port 0: one chosen)."""
    from gilwise import status

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            if path == "/status.json":
                try:
                    body, kind = json.dumps(status.read(journal)).encode(), "application/json"
                except Exception as exc:  # the journal went away: say so, keep serving
                    body, kind = json.dumps({"error": str(exc)}).encode(), "application/json"
            elif path in ("/", "/index.html"):
                body, kind = PAGE.replace("__JOURNAL__", _escape(journal)).encode(), \
                    "text/html; charset=utf-8"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: one request a second would fill the terminal

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise ValueError(f"--serve {host}:{port}: cannot listen there ({exc.strerror})") from None
    shown = f"[{host}]" if ":" in host else host
    print(f"gilwise: the status of {journal} on http://{shown}:{server.server_port}/ "
          "(Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gilwise status: __JOURNAL__</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; max-width: 60em; }
 h1 { font-size: 1.3em; } .state { padding: .1em .5em; border-radius: .3em; color: #fff; }
 .running { background: #2a7ae2; } .finished { background: #2e9e44; }
 .stopped { background: #c0392b; } table { border-collapse: collapse; margin: .5em 0; }
 td, th { padding: .2em .8em; text-align: left; border-bottom: 1px solid #ddd; }
 .hung { color: #c0392b; font-weight: bold; } svg { background: #fafafa; }
</style></head>
<body>
<h1>gilwise: <span id="journal">__JOURNAL__</span> <span id="state" class="state">…</span></h1>
<p id="summary">reading the journal…</p>
<h2>Throughput (items/s)</h2>
<svg id="plot" width="600" height="160" viewBox="0 0 600 160" role="img"
     aria-label="throughput over time"></svg>
<h2>Running now</h2>
<table><thead><tr><th>item</th><th>worker</th><th>for</th></tr></thead>
<tbody id="running"></tbody></table>
<h2>Failures</h2>
<table><thead><tr><th>type</th><th>count</th><th>example</th></tr></thead>
<tbody id="failures"></tbody></table>
<script>
function span(s) {
  if (s == null) return "?";
  if (s < 60) return s.toFixed(1) + " s";
  const m = Math.floor(s / 60);
  return m < 60 ? m + "m " + Math.floor(s % 60) + "s" : Math.floor(m / 60) + "h " + (m % 60) + "m";
}
function cell(row, text, cls) {
  const td = document.createElement("td"); td.textContent = text;
  if (cls) td.className = cls; row.appendChild(td);
}
function plot(history) {
  const svg = document.getElementById("plot"), W = 600, H = 160, pad = 24;
  const top = Math.max(1, ...history.map(p => p[1]));
  const end = Math.max(1, ...history.map(p => p[0]));
  const pts = history.map(p => [pad + (W - 2 * pad) * p[0] / end,
                                H - pad - (H - 2 * pad) * p[1] / top]);
  svg.innerHTML = '<line x1="' + pad + '" y1="' + (H - pad) + '" x2="' + (W - pad) +
    '" y2="' + (H - pad) + '" stroke="#999"/>' +
    '<text x="' + pad + '" y="14" font-size="11">' + top.toFixed(1) + ' items/s</text>' +
    '<text x="' + (W - pad) + '" y="' + (H - 6) + '" font-size="11" text-anchor="end">' +
    span(end) + '</text>' +
    '<polyline id="line" fill="none" stroke="#2a7ae2" stroke-width="2" points="' +
    pts.map(p => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ") + '"/>';
}
async function refresh() {
  let s;
  try { s = await (await fetch("status.json", {cache: "no-store"})).json(); }
  catch (e) { document.getElementById("summary").textContent = "the server is gone"; return; }
  if (s.error) { document.getElementById("summary").textContent = s.error; return; }
  const state = document.getElementById("state");
  state.textContent = s.state; state.className = "state " + s.state;
  const total = s.total == null ? "" : " of " + s.total;
  document.getElementById("summary").textContent =
    s.function + ": " + s.done + " done, " + s.failed + " failed" + total +
    "; " + s.rate.toFixed(1) + " items/s over the last minute" +
    (s.eta_seconds == null ? "" : "; ETA " + span(s.eta_seconds)) +
    "; " + s.recycled + " workers recycled";
  plot(s.history);
  const running = document.getElementById("running"); running.innerHTML = "";
  for (const r of s.running) {
    const row = document.createElement("tr");
    const hung = s.item_seconds && r.seconds > Math.max(10 * s.item_seconds, 1);
    cell(row, r.position); cell(row, r.worker); cell(row, span(r.seconds), hung ? "hung" : "");
    running.appendChild(row);
  }
  const failures = document.getElementById("failures"); failures.innerHTML = "";
  for (const f of s.failures) {
    const row = document.createElement("tr");
    cell(row, f.type); cell(row, f.count);
    cell(row, "item " + f.example.position + ": " + f.example.message);
    failures.appendChild(row);
  }
  if (s.state === "running") setTimeout(refresh, 1000); else setTimeout(refresh, 5000);
}
refresh();
</script>
</body></html>
"""
