# sedge's fork server ("prebake"): imports a python3 / python3-http bundle's `index` module once, then forks a
# ready child per request, so a call or a replica start skips the interpreter start and every import.
#
# Usage: python3 forkserver.py @NAME   (run in the bundle folder, with the function's environment)
# Listens on the abstract Unix socket NAME; only peers with this process's uid are served. Standard library only.
#
# Protocol, one connection per child:
#   sedge -> server: a 4-byte big-endian length, then that many bytes of JSON
#                    {"env": {K: V}, "cgroup_procs": [path...], "rlimit_as": bytes or null};
#                    the first bytes carry three fds (stdin, stdout, stderr) with SCM_RIGHTS.
#   server -> sedge: one JSON line {"pid": N} (the child, leading its own process group, is running)
#                    or {"error": "..."}; later one JSON line {"pid": N, "code": C} or {"pid": N, "signal": S}
#                    when the child ends. If sedge closes the connection first, the child's group is SIGKILLed.
# The server exits when its stdin (a pipe from sedge) reaches end of file, i.e. when sedge is gone.
import errno
import io
import json
import os
import random
import resource
import selectors
import signal
import socket
import struct
import sys
import traceback

MAX_HEADER = 16 << 20


def log(message):
    try:
        sys.stderr.write("prebake: %s\n" % message)
        sys.stderr.flush()
    except OSError:
        pass


class Conn:
    """One connection from sedge: its request, then the child it started."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.fds = []
        self.pid = None


class Server:
    def __init__(self, name, index):
        self.index = index
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind("\0" + name)
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        # fd 0 is the pipe from sedge: watched for end of file; children get their own stdin.
        self.watch = os.dup(0)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.sel.register(self.watch, selectors.EVENT_READ, "watch")
        self.conns = {}  # socket fd -> Conn
        self.children = {}  # pid -> Conn, or None once sedge hung up

    def serve(self):
        log("serving pid %d" % os.getpid())
        while True:
            for key, _ in self.sel.select():
                if key.data == "accept":
                    self.accept()
                elif key.data == "wake":
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                elif key.data == "watch":
                    if not os.read(self.watch, 512):
                        log("sedge is gone; exiting")
                        return
                else:
                    self.readable(key.data)
            self.reap()

    def accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            if struct.unpack("3i", creds)[1] != os.getuid():
                sock.close()
                continue
            sock.setblocking(False)
            conn = Conn(sock)
            self.conns[sock.fileno()] = conn
            self.sel.register(sock, selectors.EVENT_READ, conn)

    def close(self, conn):
        self.sel.unregister(conn.sock)
        self.conns.pop(conn.sock.fileno(), None)
        conn.sock.close()
        for fd in conn.fds:
            os.close(fd)
        conn.fds = []

    def readable(self, conn):
        try:
            data, fds, _, _ = socket.recv_fds(conn.sock, 65536, 3)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, fds = b"", []
        conn.fds.extend(fds)
        if conn.pid is not None or not data:
            # Hang-up (or a stray byte) while the child runs: the child is not wanted any more.
            if conn.pid is not None and conn.pid in self.children:
                self.children[conn.pid] = None
                kill_group(conn.pid)
            self.close(conn)
            return
        conn.buf += data
        if len(conn.buf) < 4:
            return
        (length,) = struct.unpack(">I", conn.buf[:4])
        if length > MAX_HEADER:
            self.reply(conn, {"error": "header of %d bytes is too long" % length})
            self.close(conn)
            return
        if len(conn.buf) < 4 + length:
            return
        try:
            header = json.loads(conn.buf[4 : 4 + length])
            if len(conn.fds) != 3:
                raise ValueError("expected 3 file descriptors, got %d" % len(conn.fds))
            self.start(conn, header)
        except Exception as e:
            self.reply(conn, {"error": "%s: %s" % (type(e).__name__, e)})
            self.close(conn)

    def start(self, conn, header):
        go_r, go_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            self.become_child(conn, header, go_r)
        os.close(go_r)
        for fd in conn.fds:
            os.close(fd)
        conn.fds = []
        try:
            try:
                os.setpgid(pid, pid)
            except OSError:
                pass  # the child did it first
            for path in header.get("cgroup_procs") or []:
                with open(path, "w") as f:
                    f.write(str(pid))
            limit = header.get("rlimit_as")
            if limit is not None:
                resource.prlimit(pid, resource.RLIMIT_AS, (int(limit), int(limit)))
        except BaseException:
            os.close(go_w)
            kill_group(pid)
            os.waitpid(pid, 0)
            raise
        os.write(go_w, b"g")
        os.close(go_w)
        conn.pid = pid
        self.children[pid] = conn
        self.reply(conn, {"pid": pid})

    def become_child(self, conn, header, go_r):
        """In the forked child: wait for the parent's go, take the call's fds, run index.main()."""
        status = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.setpgid(0, 0)
            fds = conn.fds
            self.sel.close()
            for other in list(self.conns.values()):
                other.sock.close()
                if other is not conn:
                    for fd in other.fds:
                        os.close(fd)
            self.listener.close()
            for fd in (self.wake_r, self.wake_w, self.watch):
                os.close(fd)
            if os.read(go_r, 1) != b"g":
                os._exit(1)
            os.close(go_r)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            for fd in fds:
                if fd > 2:
                    os.close(fd)
            fresh_stdio()
            os.environ.update({str(k): str(v) for k, v in (header.get("env") or {}).items()})
            random.seed()
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        try:
            self.index.main()
            status = 0
        except SystemExit as e:
            status = exit_code(e.code)
        except BaseException:
            traceback.print_exc()
            status = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                if status == 0:
                    status = 120  # as a fresh interpreter does when flushing stdout fails at exit
        os._exit(status)

    def reap(self):
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            if os.WIFSIGNALED(status):
                self.reply(conn, {"pid": pid, "signal": os.WTERMSIG(status)})
            else:
                self.reply(conn, {"pid": pid, "code": os.waitstatus_to_exitcode(status)})
            self.close(conn)

    def reply(self, conn, message):
        try:
            conn.sock.setblocking(True)
            conn.sock.sendall((json.dumps(message) + "\n").encode())
            conn.sock.setblocking(False)
        except OSError:
            pass  # sedge hung up; the child (if any) is killed or reaped all the same


def fresh_stdio():
    """New sys.stdin/stdout/stderr over fds 0/1/2, made as a fresh interpreter makes them."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        write = fd > 0
        unbuffered = write and old.write_through
        raw = io.open(fd, "wb" if write else "rb", buffering=0 if unbuffered else -1, closefd=False)
        stream = io.TextIOWrapper(
            raw,
            encoding=old.encoding,
            errors=old.errors,
            newline="\n",
            line_buffering=not unbuffered and (os.isatty(fd) or fd == 2),
            write_through=unbuffered,
        )
        setattr(sys, name, stream)
        setattr(sys, "__%s__" % name, stream)


def exit_code(code):
    """The status a fresh interpreter exits with for SystemExit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(str(code) + "\n")
    except Exception:
        pass
    return 1


def kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError as e:
        if e.errno != errno.ESRCH:
            log("could not kill group %d: %s" % (pid, e))


def main():
    if len(sys.argv) != 2 or not sys.argv[1].startswith("@"):
        log("usage: forkserver.py @SOCKET-NAME")
        sys.exit(2)
    name = sys.argv[1][1:]
    # Look like `python3 index.py` run in the bundle folder: the bundle first on sys.path, argv as index.py's.
    bundle = os.getcwd()
    sys.path[0] = bundle
    sys.argv = ["index.py"]
    import index

    if not callable(getattr(index, "main", None)):
        log("index.py has no main(); cannot prebake")
        sys.exit(3)
    Server(name, index).serve()


if __name__ == "__main__":
    main()
