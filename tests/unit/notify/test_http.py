"""The deliveries' HTTP client against real local servers (plain and TLS): kept-alive
connections, answers, a connection the server closed, timeouts, refusals."""

from __future__ import annotations

import asyncio
import ssl
import subprocess

import pytest

from pipeline.notify.http import Client

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Server:
    """A local HTTP server: answers each request with the next of ``answers`` (the last one
    repeats), after reading its head and body; counts connections and requests."""

    def __init__(self, *answers: bytes, close_after: int = 0) -> None:
        self.answers = list(answers) or [OK]
        self.close_after = close_after  # close a connection after this many answers (0: never)
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
                if answer:
                    writer.write(answer)
                    await writer.drain()
                answered += 1
                if answered == self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def start(self, tls: ssl.SSLContext | None = None) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=tls)
        return self.server.sockets[0].getsockname()[1]


def run(coroutine):
    return asyncio.run(coroutine)


def test_requests_share_a_kept_alive_connection_and_answers_are_read():
    async def main():
        server = Server(
            OK,
            b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nContent-Length: 4\r\n\r\nslow",
            b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbad\r\n0\r\n\r\n",
        )
        port = await server.start()
        client = Client(5.0)
        url = f"http://127.0.0.1:{port}/hook?x=1"
        answers = [await client.post(url, {"X-A": "b"}, b'{"n":%d}' % i) for i in range(3)]
        client.close()
        return server, answers

    server, answers = run(main())
    assert [(a.status, a.retry_after, a.body) for a in answers] == [
        (200, None, b"ok"), (429, "3", b"slow"), (500, None, b"bad")
    ]  # fmt: skip
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"X-A: b\r\n" in first and first.endswith(b'\r\n\r\n{"n":0}')


def test_a_connection_the_server_closed_while_idle_is_replaced():
    async def main():
        server = Server(close_after=1)
        port = await server.start()
        client = Client(5.0)
        answers = []
        for i in range(3):
            answers.append(await client.post(f"http://127.0.0.1:{port}/", {}, b"%d" % i))
            await asyncio.sleep(0.05)  # the server closes it meanwhile
        client.close()
        return server, answers

    server, answers = run(main())
    assert [a.status for a in answers] == [200, 200, 200]
    assert server.connections == 3 and len(server.requests) == 3


def test_connection_close_is_honoured():
    async def main():
        server = Server(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        port = await server.start()
        client = Client(5.0)
        for _ in range(2):
            assert (await client.post(f"http://127.0.0.1:{port}/", {}, b"x")).status == 204
        client.close()
        return server

    assert run(main()).connections == 2


def test_no_answer_is_a_timeout_and_a_closed_port_an_os_error():
    async def main():
        silent = Server(b"")  # reads the request, never answers
        port = await silent.start()
        with pytest.raises(TimeoutError):
            await Client(0.3).post(f"http://127.0.0.1:{port}/", {}, b"x")
        closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        free = closed.sockets[0].getsockname()[1]
        closed.close()
        await closed.wait_closed()
        with pytest.raises(OSError):
            await Client(1.0).post(f"http://127.0.0.1:{free}/", {}, b"x")

    run(main())


def test_what_cannot_be_sent_is_a_value_error():
    async def main():
        client = Client(1.0)
        with pytest.raises(ValueError):
            await client.post("http://127.0.0.1:1/", {"Idempotency-Key": "a\r\nX-Evil: 1"}, b"")
        with pytest.raises(ValueError):
            await client.post("ftp://example.com/", {}, b"")

    run(main())


def test_https_with_a_trusted_certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    trusted = ssl.create_default_context(cafile=str(cert))

    async def main():
        server = Server()
        port = await server.start(served)
        answers = []
        client = Client(5.0, trusted)
        for _ in range(2):
            answers.append((await client.post(f"https://localhost:{port}/h", {}, b"x")).status)
        client.close()
        with pytest.raises(ssl.SSLError):  # the system's CA store does not know it
            await Client(5.0).post(f"https://localhost:{port}/h", {}, b"x")
        return server, answers

    server, answers = run(main())
    assert answers == [200, 200] and server.connections == 1  # (the refused handshake: none)
