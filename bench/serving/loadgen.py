"""Built-in load generator: closed-loop HTTP/1.1 over raw asyncio sockets, one process.

run.py uses it when `wrk` is not on PATH, as a child process so its CPU time shows up apart
from the server's. It can also be run by hand:

    .venv/bin/python bench/serving/loadgen.py --url http://127.0.0.1:8000/healthz \
        --method GET --concurrency 8 --duration 5

Each of `--concurrency` connections sends one request, reads the whole response, and sends
the next, for `--duration` seconds; requests in flight at the deadline are finished and
counted. Connections are kept alive unless the server answers `Connection: close` (gunicorn's
sync workers do, after every response): then the next request opens a new connection.
Latency runs from writing the request to reading the last byte of its response; opening a new
connection is not part of it (the same as wrk). The result is one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

READ_LIMIT = 1 << 20


class HttpConnection(asyncio.Protocol):
    """One HTTP/1.1 connection with a single request in flight at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.eof = False
        self._new_response()

    def _new_response(self) -> None:
        self.head_end = -1
        self.status = 0
        self.length: int | None = None
        self.chunked = False
        self.keep_alive = True

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            self._parse()

    def eof_received(self) -> bool:
        self.eof = True
        if self.waiter is not None and not self.waiter.done():
            self._parse()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if self.waiter is not None and not self.waiter.done():
            self._parse()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost mid-response: {exc}"))

    def send(self, data: bytes) -> asyncio.Future:
        self.waiter = self.loop.create_future()
        self.transport.write(data)
        return self.waiter

    def _parse(self) -> None:
        buf = self.buf
        if self.head_end < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > READ_LIMIT:
                    self.waiter.set_exception(ConnectionError("response head too large"))
                return
            self.head_end = end + 4
            lines = bytes(buf[:end]).split(b"\r\n")
            version, status = lines[0].split(b" ", 2)[:2]
            self.status = int(status)
            self.keep_alive = version == b"HTTP/1.1"
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                value = value.strip().lower()
                if name == b"content-length":
                    self.length = int(value)
                elif name == b"transfer-encoding":
                    self.chunked = b"chunked" in value
                elif name == b"connection":
                    if b"close" in value:
                        self.keep_alive = False
                    elif b"keep-alive" in value:
                        self.keep_alive = True
            if self.status in (204, 304):
                self.length = 0
        if self.chunked:
            done_at = self._chunked_end()
            if done_at < 0:
                return
        elif self.length is not None:
            done_at = self.head_end + self.length
            if len(buf) < done_at:
                return
        elif self.eof:
            # Neither a length nor chunks: the body runs to the end of the connection.
            done_at = len(buf)
            self.keep_alive = False
        else:
            return
        del buf[:done_at]
        result = (self.status, self.keep_alive and not self.eof)
        self._new_response()
        waiter, self.waiter = self.waiter, None
        waiter.set_result(result)

    def _chunked_end(self) -> int:
        """Offset just past a complete chunked body, or -1 while more bytes are due."""
        buf, pos = self.buf, self.head_end
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return -1
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                while True:  # optional trailer lines, then an empty line
                    eol = buf.find(b"\r\n", pos)
                    if eol < 0:
                        return -1
                    if eol == pos:
                        return pos + 2
                    pos = eol + 2
            pos += size + 2
            if pos > len(buf):
                return -1


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.ok = 0
        self.statuses: Counter[int] = Counter()
        self.socket_errors = 0
        self.timeouts = 0
        self.connections = 0


def build_requests(
    method: str, url: str, headers: list[str], bodies: list[bytes]
) -> tuple[str, int, list[bytes]]:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    head = f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    head += "".join(f"{h.strip()}\r\n" for h in headers)
    if not bodies:
        return host, port, [(head + "\r\n").encode()]
    head += "Content-Type: application/json\r\n"
    return (
        host,
        port,
        [(head + f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in bodies],
    )


async def _connection_loop(
    host: str, port: int, requests: list[bytes], first: int, deadline: float, stats: Stats
) -> None:
    loop = asyncio.get_running_loop()
    perf = time.perf_counter
    conn: HttpConnection | None = None
    index, count = first, len(requests)
    try:
        while perf() < deadline:
            try:
                if conn is None or conn.eof:
                    if conn is not None:
                        conn.transport.close()
                    _, conn = await loop.create_connection(lambda: HttpConnection(loop), host, port)
                    stats.connections += 1
                started = perf()
                status, keep_alive = await conn.send(requests[index])
                stats.latencies.append(perf() - started)
            except OSError:  # refused, reset, closed mid-response
                stats.socket_errors += 1
                if conn is not None:
                    conn.transport.close()
                conn = None
                # Back off a little so a server that refuses connections is not hammered.
                await asyncio.sleep(0.01)
                continue
            if 200 <= status < 300:
                stats.ok += 1
            else:
                stats.statuses[status] += 1
            if not keep_alive:
                conn.transport.close()
                conn = None
            index = (index + 1) % count
    finally:
        if conn is not None:
            conn.transport.close()


async def run(
    *,
    host: str,
    port: int,
    requests: list[bytes],
    concurrency: int,
    duration: float,
    timeout: float,
) -> tuple[Stats, float]:
    stats = Stats()
    started = time.perf_counter()
    deadline = started + duration
    # Each connection starts at its own offset, so concurrent requests carry different rows.
    tasks = [
        asyncio.create_task(
            _connection_loop(
                host, port, requests, k * len(requests) // concurrency, deadline, stats
            )
        )
        for k in range(concurrency)
    ]
    done, pending = await asyncio.wait(tasks, timeout=duration + timeout)
    for task in pending:
        task.cancel()
        stats.timeouts += 1
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # a bug in the client must not pass for a fast server
    return stats, time.perf_counter() - started


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(stats: Stats, elapsed: float) -> dict:
    ordered = sorted(stats.latencies)
    ms = lambda s: None if s is None else round(s * 1000, 3)  # noqa: E731
    return {
        "client": "python",
        "elapsed_s": round(elapsed, 3),
        "ok": stats.ok,
        "errors": {
            "status": sum(stats.statuses.values()),
            "socket": stats.socket_errors,
            "timeout": stats.timeouts,
        },
        "status_counts": {str(k): v for k, v in sorted(stats.statuses.items())},
        "connections": stats.connections,
        "latency_ms": {
            "mean": ms(sum(ordered) / len(ordered)) if ordered else None,
            "p50": ms(percentile(ordered, 50)),
            "p90": ms(percentile(ordered, 90)),
            "p99": ms(percentile(ordered, 99)),
            "max": ms(ordered[-1]) if ordered else None,
        },
        # Requests the server may have finished after the client stopped waiting.
        "in_flight_at_stop": stats.timeouts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="POST")
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--bodies", help="file with one request body per line, cycled")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="grace after the deadline, seconds"
    )
    args = parser.parse_args()

    bodies: list[bytes] = []
    if args.bodies:
        with open(args.bodies, "rb") as f:
            bodies = [line.rstrip(b"\n") for line in f if line.strip()]
    host, port, requests = build_requests(args.method, args.url, args.header, bodies)
    # The latency list holds only floats, so the cyclic collector has nothing to free; turning
    # it off keeps its pauses out of the measured latencies.
    gc.disable()
    stats, elapsed = asyncio.run(
        run(
            host=host,
            port=port,
            requests=requests,
            concurrency=args.concurrency,
            duration=args.duration,
            timeout=args.timeout,
        )
    )
    json.dump(summary(stats, elapsed), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
