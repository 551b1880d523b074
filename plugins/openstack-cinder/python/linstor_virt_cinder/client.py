"""The transport of the call protocol (docs/agent.md): one JSON request, one JSON reply.

First the host agent's unix socket (HTTP ``POST /v1/call``). When nothing could be sent there
(socket missing, refused, not a socket, no permission), a private agent: ``<command> agent`` run
once as a child of this process (cinder-volume) on a socket in a private folder, kept for the
process's life (it ends when its stdin, our pipe, closes), so that no call pays a node start.
Only when that one cannot start either, the one-shot command ``<command> call --stdin`` runs for
the call, with the request on stdin and the reply as the last line of stdout. Once a request has
reached an agent, a failure is final: the agent may be running the operation, so it is never sent
a second time.

Plain blocking sockets and subprocess only: both are green under eventlet's monkey patching and
plain threads without it. The request carries file paths, never secrets; nothing here logs it.
"""

import atexit
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

# Added to the call's deadline for the transport's own timeout: the reply of a call that hit its
# deadline still has to arrive.
GRACE_S = 5.0

# How long a private agent may take to listen; after a failed start, how long calls use the
# one-shot command before the next start is tried.
CHILD_START_S = 15.0
CHILD_RETRY_S = 60.0


class TransportError(Exception):
    """Neither the agent nor the one-shot command gave a reply."""


class _NotSent(Exception):
    """The agent could not be reached; nothing was sent."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__('localhost', timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _ChildAgent(object):
    """The private agent: `<command> agent` on a socket in a private folder, our child."""

    def __init__(self, command):
        self.dir = tempfile.mkdtemp(prefix='linstor-virt-')
        self.socket_path = os.path.join(self.dir, 'agent.sock')
        env = dict(os.environ)
        env.setdefault('LINSTOR_VIRT_LOG_LEVEL', 'warn')
        # No cluster survey (that is the host agent's job); it ends when our end of stdin closes.
        self.proc = subprocess.Popen(
            list(command) + ['agent', '--socket', self.socket_path,
                             '--survey-interval', '0', '--exit-with-stdin'],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env,
            close_fds=True, shell=False)

    def alive(self):
        return self.proc.poll() is None

    def wait_listening(self, timeout_s):
        """True once the socket accepts a connection; False when the child ended or time ran out."""
        until = time.monotonic() + timeout_s
        while time.monotonic() < until:
            if not self.alive():
                return False
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.settimeout(1.0)
                s.connect(self.socket_path)
                return True
            except OSError:
                time.sleep(0.02)
            finally:
                s.close()
        return False

    def stop(self):
        """Closes its stdin (it then leaves), kills it when it does not, removes the folder."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except Exception:
            # eventlet's green Popen has a TimeoutExpired of its own: any failure to wait.
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except Exception:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


class CallClient(object):
    """Sends call-protocol requests to the agent at `socket_path`, else to a private agent
    started with `command` (when `private_agent`), else runs `command` once per call."""

    def __init__(self, socket_path, command, private_agent=True):
        self.socket_path = socket_path
        self.command = list(command or [])
        self.private_agent = private_agent
        self._child = None
        self._child_failed_at = None
        self._child_lock = threading.Lock()
        self._stopped = False
        atexit.register(self.close)

    def describe(self):
        return 'agent socket %s, command %s' % (
            self.socket_path, ' '.join(self.command + ['call', '--stdin']))

    def call(self, request, timeout_s):
        """Returns the parsed reply dict; raises TransportError when there is none."""
        body = json.dumps(request, default=str).encode('utf-8')
        try:
            return self._via_agent(self.socket_path, body, timeout_s)
        except _NotSent as e:
            agent_failure = str(e)
        private = self._private_socket()
        if private is not None:
            try:
                return self._via_agent(private, body, timeout_s)
            except _NotSent as e:
                # It ended since it was checked: the next call starts another.
                agent_failure += '; private agent: %s' % e
                self._drop_child()
        return self._via_command(body, timeout_s, agent_failure)

    def child_pid(self):
        """The private agent's pid while it runs (for tests and diagnostics), else None."""
        child = self._child
        return child.proc.pid if child is not None and child.alive() else None

    def close(self):
        """Stops the private agent (cinder-volume's exit does this too: its stdin closes)."""
        with self._child_lock:
            self._stopped = True
            child, self._child = self._child, None
        if child is not None:
            child.stop()

    def _private_socket(self):
        """The running private agent's socket, starting it when there is none; None: not usable."""
        if not self.private_agent or not self.command:
            return None
        with self._child_lock:
            if self._stopped:
                return None
            child = self._child
            if child is not None and child.alive():
                return child.socket_path
            if child is not None:
                self._child = None
                child.stop()
            failed = self._child_failed_at
            if failed is not None and time.monotonic() - failed < CHILD_RETRY_S:
                return None
            try:
                child = _ChildAgent(self.command)
            except OSError:
                self._child_failed_at = time.monotonic()
                return None
            if not child.wait_listening(CHILD_START_S):
                child.stop()
                self._child_failed_at = time.monotonic()
                return None
            self._child = child
            self._child_failed_at = None
            return child.socket_path

    def _drop_child(self):
        with self._child_lock:
            child, self._child = self._child, None
        if child is not None:
            child.stop()

    def _via_agent(self, socket_path, body, timeout_s):
        conn = _UnixHTTPConnection(socket_path, timeout_s)
        try:
            try:
                conn.connect()
            except OSError as e:
                raise _NotSent('%s: %s' % (socket_path,
                                           e.strerror or e))
            try:
                conn.request('POST', '/v1/call', body=body,
                             headers={'Content-Type': 'application/json'})
                resp = conn.getresponse()
                text = resp.read().decode('utf-8', 'replace')
            except (OSError, http.client.HTTPException) as e:
                raise TransportError(
                    'the linstor-virt agent at %s gave no reply: %s' %
                    (socket_path, e or type(e).__name__))
        finally:
            conn.close()
        return _parse(text, 'the linstor-virt agent at %s (HTTP %s)' %
                      (socket_path, resp.status))

    def _via_command(self, body, timeout_s, agent_failure):
        argv = self.command + ['call', '--stdin']
        tried = 'agent socket unusable (%s); command %s' % (
            agent_failure, ' '.join(argv))
        if not self.command:
            raise TransportError('%s: no command configured' % tried)
        try:
            proc = subprocess.run(argv, input=body, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=timeout_s,
                                  shell=False, check=False)
        except OSError as e:
            raise TransportError('%s: cannot run it: %s' %
                                 (tried, e.strerror or e))
        except Exception as e:
            # Under eventlet the green Popen raises a TimeoutExpired class of its own copy of the
            # subprocess module, so match the name. run() has killed the child either way.
            if type(e).__name__ != 'TimeoutExpired':
                raise
            raise TransportError('%s: no reply within %.1f s' %
                                 (tried, timeout_s))
        lines = [ln for ln in proc.stdout.decode('utf-8', 'replace')
                 .splitlines() if ln.strip()]
        if not lines:
            err = proc.stderr.decode('utf-8', 'replace').strip()[-500:]
            raise TransportError('%s: exit code %s and no reply%s' % (
                tried, proc.returncode, (': ' + err) if err else ''))
        return _parse(lines[-1], tried)


def _parse(text, source):
    try:
        reply = json.loads(text)
    except ValueError:
        raise TransportError('%s: the reply is not JSON: %s' %
                             (source, text.strip()[:200]))
    if not isinstance(reply, dict) or ('result' not in reply
                                       and 'error' not in reply):
        raise TransportError('%s: not a call-protocol reply: %s' %
                             (source, text.strip()[:200]))
    return reply
