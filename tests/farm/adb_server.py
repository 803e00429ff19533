"""A real adb server on loopback whose one "phone" is this host: test infrastructure for the adb backend.

It speaks the adb client protocol that adbutils and the ``adb`` command speak to
``adb start-server`` (hex-length-prefixed requests, OKAY/FAIL replies, the
``sync:`` file protocol), so the backend's traffic is the traffic a phone's server
sees: ``host:version``, ``host-serial:S:get-state``, ``host:tport:serial:S``, then
``shell:CMD`` (run by /bin/sh on this host, output streamed, connection closed at
exit) or ``sync:`` (STAT, SEND with DATA/DONE, RECV, QUIT). Paths are this host's.
"""

from __future__ import annotations

import os
import socketserver
import stat
import struct
import subprocess
import threading

VERSION = 41


class _Handler(socketserver.BaseRequestHandler):
    server: "AdbServer"

    def handle(self) -> None:
        while True:
            request = self._request()
            if request is None:
                return
            if request == "host:version":
                self._okay(_block(f"{VERSION:04x}"))
            elif request in ("host:devices", "host:devices-l"):
                self._okay(_block(f"{self.server.serial}\tdevice\n"))
            elif request.startswith("host-serial:") and request.endswith(":get-state"):
                if not self._known(request.split(":")[1]):
                    return
                self._okay(_block("device"))
            elif request.startswith("host:tport:serial:"):
                if not self._known(request.removeprefix("host:tport:serial:")):
                    return
                self._okay(struct.pack("<Q", 1))  # the transport id
            elif request.startswith("host:transport:"):
                if not self._known(request.removeprefix("host:transport:")):
                    return
                self._okay()
            elif request.startswith("shell:"):
                self._shell(request.removeprefix("shell:"))
                return
            elif request == "sync:":
                self._okay()
                self._sync()
                return
            else:
                self._fail(f"unsupported request {request!r}")
                return

    # -------------------------------------------------------------- wire format
    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client closed")
            data += chunk
        return data

    def _request(self) -> str | None:
        try:
            length = int(self._read(4), 16)
            return self._read(length).decode()
        except ConnectionError:
            return None

    def _okay(self, payload: bytes = b"") -> None:
        self.request.sendall(b"OKAY" + payload)

    def _fail(self, message: str) -> None:
        self.request.sendall(b"FAIL" + _block(message))

    def _known(self, serial: str) -> bool:
        if serial != self.server.serial:
            self._fail(f"device '{serial}' not found")
            return False
        return True

    # -------------------------------------------------------------- services
    def _shell(self, command: str) -> None:
        self._okay()
        self.server.commands.append(command)
        env = {**os.environ, "PATH": f"{self.server.bin_dir}:{os.environ['PATH']}"}
        process = subprocess.Popen(["/bin/sh", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        for chunk in iter(lambda: process.stdout.read1(65536), b""):
            self.request.sendall(chunk)
        process.wait()

    def _sync(self) -> None:
        while True:
            header = self._read(8)
            command, length = header[:4], struct.unpack("<I", header[4:])[0]
            if command == b"QUIT":
                return
            path = self._read(length).decode()
            if command == b"STAT":
                try:
                    info = os.stat(path)
                    self.request.sendall(b"STAT" + struct.pack("<III", info.st_mode, info.st_size, int(info.st_mtime)))
                except FileNotFoundError:
                    self.request.sendall(b"STAT" + struct.pack("<III", 0, 0, 0))
            elif command == b"SEND":
                self._receive(*path.rsplit(",", 1))
            elif command == b"RECV":
                with open(path, "rb") as file:
                    while chunk := file.read(65536):
                        self.request.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                self.request.sendall(b"DONE" + struct.pack("<I", 0))
            else:
                self._fail(f"unsupported sync command {command!r}")
                return

    def _receive(self, path: str, mode: str) -> None:
        with open(path, "wb") as file:
            while True:
                header = self._read(8)
                kind, length = header[:4], struct.unpack("<I", header[4:])[0]
                if kind == b"DONE":
                    break
                file.write(self._read(length))
        os.chmod(path, stat.S_IMODE(int(mode)))
        self.server.pushed.append(path)
        self.request.sendall(b"OKAY" + struct.pack("<I", 0))


def _block(text: str) -> bytes:
    data = text.encode()
    return f"{len(data):04x}".encode() + data


class AdbServer(socketserver.ThreadingTCPServer):
    """Serves one device, ``serial``, on 127.0.0.1 (port chosen by the OS); ``bin_dir`` is put first on
    the shell's PATH (the phone's own tools, such as ``dumpsys``). Records the shell commands and pushes."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, serial: str, bin_dir: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.serial, self.bin_dir = serial, bin_dir
        self.commands: list[str] = []
        self.pushed: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self) -> "AdbServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
