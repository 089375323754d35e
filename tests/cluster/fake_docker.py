"""The Docker API's /_ping on a Unix socket, for preflight's SSH check.

`python fake_docker.py SOCKET LOG GID`: the socket is root:GID 0660, like docker.sock and
its docker group.

Strict: only `GET /_ping` is answered (200 OK), anything else gets 404; each request is logged.
"""

from __future__ import annotations

import os
import socket
import sys


def serve(path: str, log: str, gid: int) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        os.chown(path, 0, gid)
        os.chmod(path, 0o660)
        server.listen()
        while True:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request and len(request) < 8192:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                line = request.split(b"\r\n", 1)[0].decode("latin-1")
                with open(log, "a") as f:
                    f.write(line + "\n")
                if line.startswith("GET /_ping HTTP/1."):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\nContent-Length: 2\r\n\r\nOK")
                else:
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], int(sys.argv[3]))
