"""qp_harness — start a real quipud on a temporary vault and talk to it.

Shared by every integration test (daemon, CLI, Neovim, benchmarks). Python 3
standard library only.

    from qp_harness import Daemon

    with Daemon(files={"People/Ann.md": "# Ann\n", "M.md": "[[Ann]]\n"}) as d:
        c = d.client()
        print(c.request("backlinks", {"note": "Ann"}))
        sub = c.request("subscribe", {"method": "backlinks", "params": {"note": "Ann"}})
        d.write("N.md", "[[Ann]]\n")
        upd = c.wait_update(sub["subscription"], lambda r: len(r["linked"]) == 2)

Environment: QUIPUD (path of the quipud binary; default: the first of
build*/quipud next to the source tree), QP_SOURCE_DIR, QP_HARNESS_VERBOSE=1
(echo the daemon's stderr as it arrives).
"""

import glob
import json
import os
import shlex
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SOURCE_DIR = os.environ.get(
    "QP_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)


def quipud_path():
    """The quipud binary under test."""
    p = os.environ.get("QUIPUD")
    if p:
        return p
    for cand in sorted(glob.glob(os.path.join(SOURCE_DIR, "build*", "quipud"))):
        if os.access(cand, os.X_OK):
            return cand
    raise RuntimeError("set QUIPUD to the quipud binary")


def quipu_path():
    """The quipu CLI binary under test."""
    p = os.environ.get("QUIPU")
    if p:
        return p
    for cand in sorted(glob.glob(os.path.join(SOURCE_DIR, "build*", "quipu"))):
        if os.access(cand, os.X_OK):
            return cand
    raise RuntimeError("set QUIPU to the quipu binary")


class RpcError(Exception):
    """A JSON-RPC error response: .code, .message, .data (dict or None)."""

    def __init__(self, error):
        self.error = error
        self.code = error.get("code")
        self.message = error.get("message")
        self.data = error.get("data")
        super().__init__("%s %s %s" % (self.code, self.message, json.dumps(self.data)))

    @property
    def kind(self):
        return (self.data or {}).get("kind")


class ConnectionClosed(Exception):
    pass


class Client:
    """A JSON-RPC client over the daemon's Unix socket (NDJSON framing).

    Responses are matched by id; notifications ("update") are queued and read
    with wait_update()/notifications(). Requests may be pipelined with send()
    followed by response(id)."""

    def __init__(self, path, timeout=10.0, connect=True):
        self.path = path
        self.timeout = timeout
        self.sock = None
        self.buf = b""
        self.next_id = 1
        self.responses = {}  # id (as json text) -> message
        self.updates = []  # notifications in arrival order
        self.closed = False
        if connect:
            self.connect()

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)
        return self

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending --------------------------------------------------------
    def send_raw(self, data):
        """Sends bytes as they are (for framing tests)."""
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send(self, method, params=None, id=None):
        """Sends one request without waiting; returns its id."""
        if id is None:
            id = self.next_id
            self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send_raw(json.dumps(msg) + "\n")
        return id

    # -- receiving ------------------------------------------------------
    def _read_some(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no message from quipud within the timeout")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("no message from quipud within the timeout")
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
            raise ConnectionClosed("quipud closed the connection")
        self.buf += chunk

    def read_message(self, timeout=None):
        """Returns the next message (response or notification) as a dict."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self.buf:
            self._read_some(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def _pump(self, timeout):
        msg = self.read_message(timeout)
        if "id" in msg and ("result" in msg or "error" in msg):
            self.responses[json.dumps(msg["id"])] = msg
        else:
            self.updates.append(msg)
        return msg

    def response(self, id, timeout=None):
        """Waits for the response to `id` (a full message dict)."""
        key = json.dumps(id)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while key not in self.responses:
            self._pump(max(0.0, deadline - time.monotonic()) or 0.001)
        return self.responses.pop(key)

    def call(self, method, params=None, timeout=None):
        """Sends a request and returns the whole response message."""
        return self.response(self.send(method, params), timeout)

    def request(self, method, params=None, timeout=None):
        """Sends a request; returns its result or raises RpcError."""
        msg = self.call(method, params, timeout)
        if "error" in msg:
            raise RpcError(msg["error"])
        return msg["result"]

    def wait_update(self, subscription, pred=None, timeout=None, error=False):
        """Waits for an `update` of `subscription` whose result satisfies pred
        (any update when pred is None); returns its params
        {subscription, generation, result}. With error=True, waits for an
        update carrying an error instead (pred gets the error object).
        Earlier non-matching updates of that subscription are consumed."""
        key = "error" if error else "result"
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for i, u in enumerate(self.updates):
                p = u.get("params") or {}
                if u.get("method") == "update" and p.get("subscription") == subscription:
                    del self.updates[i]
                    if key in p and (pred is None or pred(p[key])):
                        return p
                    break
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching update for subscription %r" % subscription)
                self._pump(left)

    def drain(self, quiet=0.3):
        """Reads whatever arrives until `quiet` seconds pass without a message;
        returns the notifications read (also left in self.updates)."""
        start = len(self.updates)
        while True:
            try:
                self._pump(quiet)
            except TimeoutError:
                break
        return self.updates[start:]


class Daemon:
    """A quipud process on a temporary vault, socket and index.

    files: {relpath: text or bytes} written before the start (or vault=DIR to
    use an existing directory as is). args: extra quipud arguments.
    Use as a context manager, or call start()/stop()."""

    def __init__(self, files=None, vault=None, args=(), env=None, wait_ready=True,
                 start=True, binary=None, timeout=30.0):
        self.tmp = tempfile.mkdtemp(prefix="qp-")
        self.own_vault = vault is None
        self.vault = os.path.realpath(vault or os.path.join(self.tmp, "vault"))
        os.makedirs(self.vault, exist_ok=True)
        self.socket = os.path.join(self.tmp, "run", "q.sock")
        self.db = os.path.join(self.tmp, "index.sqlite3")
        self.args = list(args)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.binary = binary or quipud_path()
        self.timeout = timeout
        self.proc = None
        self.stderr_lines = []
        self._stderr_thread = None
        self.clients = []
        for rel, text in (files or {}).items():
            self.write(rel, text)
        if start:
            self.start(wait_ready=wait_ready)

    # -- vault edits ----------------------------------------------------
    def abspath(self, rel):
        return os.path.join(self.vault, rel)

    def write(self, rel, text):
        """Writes a file in place (creating folders)."""
        p = self.abspath(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)

    def write_atomic(self, rel, text):
        """Writes a temp file next to rel and renames it over rel (vim style)."""
        p = self.abspath(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tmp = os.path.join(os.path.dirname(p), "." + os.path.basename(p) + ".swp~")
        with open(tmp, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        os.rename(tmp, p)

    def remove(self, rel):
        p = self.abspath(rel)
        if os.path.isdir(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)

    def rename(self, a, b):
        pb = self.abspath(b)
        os.makedirs(os.path.dirname(pb), exist_ok=True)
        os.rename(self.abspath(a), pb)

    def read(self, rel):
        with open(self.abspath(rel), encoding="utf-8") as f:
            return f.read()

    # -- process --------------------------------------------------------
    def command(self):
        # make memcheck sets QUIPUD_WRAPPER (valgrind and its options) so the
        # daemon under test runs inside it; empty for ordinary runs.
        wrapper = shlex.split(os.environ.get("QUIPUD_WRAPPER", ""))
        return wrapper + [self.binary, self.vault, "--socket", self.socket, "--db", self.db,
                "--log-level", "debug"] + self.args

    def _collect_stderr(self):
        verbose = os.environ.get("QP_HARNESS_VERBOSE")
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr_lines.append(line)
            if verbose:
                sys.stderr.write("quipud: %s\n" % line)

    def start(self, wait_ready=True):
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=self.env)
        self._stderr_thread = threading.Thread(target=self._collect_stderr, daemon=True)
        self._stderr_thread.start()
        self.wait_socket()
        if wait_ready:
            self.wait_ready()
        return self

    def wait_socket(self):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("quipud exited with %d:\n%s"
                                   % (self.proc.returncode, self.stderr()))
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.socket)
                s.close()
                return
            except OSError:
                s.close()
                time.sleep(0.02)
        raise TimeoutError("quipud did not create %s:\n%s" % (self.socket, self.stderr()))

    def wait_ready(self, timeout=None):
        """Polls status until state == "ready"; returns the status."""
        deadline = time.monotonic() + (timeout or self.timeout)
        with Client(self.socket) as c:
            while True:
                st = c.request("status", {})
                if st.get("state") == "ready":
                    return st
                if time.monotonic() > deadline:
                    raise TimeoutError("quipud still %r" % st.get("state"))
                time.sleep(0.02)

    def client(self, timeout=10.0):
        """A new connected Client, closed by stop()."""
        c = Client(self.socket, timeout=timeout)
        self.clients.append(c)
        return c

    def stderr(self):
        time.sleep(0.05)
        return "\n".join(self.stderr_lines)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=None):
        rc = self.proc.wait(timeout or self.timeout)
        if self._stderr_thread:
            self._stderr_thread.join(2)
        return rc

    def stop(self, sig=None, check=True):
        """Stops the daemon; returns its exit status. A stop by SIGTERM or
        SIGINT (the default) must end in exit status 0, or this raises:
        quipud exits 1 when its event loop is not empty at exit, a crash or a
        hang on shutdown (killed after the timeout) is anything else, and so
        is an exit before the stop. check=False (or sig=SIGKILL) skips it."""
        for c in self.clients:
            c.close()
        self.clients = []
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if sig is None else sig)
            try:
                self.proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._stderr_thread:
            self._stderr_thread.join(2)
        rc = self.proc.returncode
        self.proc = None
        if check and sig in (None, signal.SIGTERM, signal.SIGINT) and rc != 0:
            raise AssertionError("quipud exited with status %r on stop:\n%s"
                                 % (rc, "\n".join(self.stderr_lines[-60:])))
        return rc

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def run_tests(tests):
    """A tiny runner: calls each function, prints a summary, exits non-zero on
    any failure. `tests` is a list of functions (or the module's globals()
    filtered by a test_ prefix)."""
    import traceback

    if isinstance(tests, dict):
        tests = [v for k, v in sorted(tests.items()) if k.startswith("test_") and callable(v)]
    only = os.environ.get("QP_TEST_ONLY")
    if only:
        tests = [t for t in tests if only in t.__name__]
    failed = []
    for t in tests:
        start = time.monotonic()
        try:
            t()
            print("ok   %-50s %6.2fs" % (t.__name__, time.monotonic() - start), flush=True)
        except Exception:
            failed.append(t.__name__)
            print("FAIL %-50s %6.2fs" % (t.__name__, time.monotonic() - start), flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (len(tests) - len(failed), len(failed)))
    if failed:
        print("failed: " + ", ".join(failed))
        sys.exit(1)
