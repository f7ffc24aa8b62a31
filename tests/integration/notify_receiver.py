"""A local webhook receiver for the notification tests, run as its own process so a test can
kill and restart it: ``python -m tests.integration.notify_receiver PORT LOG SECRET [options]``.

Every request is appended to ``LOG`` as a JSON line: ``path``, ``status`` answered, whether
the signature checked out (``signed``), the ``Idempotency-Key`` and the body. Options:
``--fail-first N`` answers 500 to a delivery's first N tries; ``--throttle-every K`` answers
every K-th request 429 with ``Retry-After: 1``; ``--status S`` answers S to everything."""

from __future__ import annotations

import argparse
import json

from aiohttp import web

from pipeline.notify.payloads import verify


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("log")
    parser.add_argument("secret")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--throttle-every", type=int, default=0)
    parser.add_argument("--status", type=int, default=200)
    args = parser.parse_args()
    tries: dict[str, int] = {}
    count = [0]

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        count[0] += 1
        key = request.headers.get("Idempotency-Key", "")
        delivery = request.headers.get("X-Trackhouse-Delivery", key)
        tries[delivery] = tries.get(delivery, 0) + 1
        signed = verify(
            args.secret,
            request.headers.get("X-Trackhouse-Timestamp", ""),
            body,
            request.headers.get("X-Trackhouse-Signature", ""),
        )
        status, headers = args.status, {}
        if args.throttle_every and count[0] % args.throttle_every == 0:
            status, headers = 429, {"Retry-After": "1"}
        elif tries[delivery] <= args.fail_first:
            status = 500
        with open(args.log, "a") as log:
            line = {"path": request.path, "status": status, "signed": signed, "key": key,
                    "try": tries[delivery], "body": json.loads(body or b"null")}  # fmt: skip
            log.write(json.dumps(line) + "\n")
        return web.Response(status=status, headers=headers, text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
