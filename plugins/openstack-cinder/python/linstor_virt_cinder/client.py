"""The transport of the call protocol (docs/agent.md): one JSON request, one JSON reply.

First the agent's unix socket (HTTP ``POST /v1/call``). When nothing could be sent there (socket
missing, refused, not a socket, no permission), the one-shot command ``<command> call --stdin``
runs instead, with the request on stdin and the reply as the last line of stdout. Once a request
has reached the agent, a failure is final: the agent may be running the operation, so it is never
sent a second time.

Plain blocking sockets and subprocess only: both are green under eventlet's monkey patching and
plain threads without it. The request carries file paths, never secrets; nothing here logs it.
"""

import http.client
import json
import socket
import subprocess

# Added to the call's deadline for the transport's own timeout: the reply of a call that hit its
# deadline still has to arrive.
GRACE_S = 5.0


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


class CallClient(object):
    """Sends call-protocol requests to the agent at `socket_path`, else runs `command`."""

    def __init__(self, socket_path, command):
        self.socket_path = socket_path
        self.command = list(command or [])

    def describe(self):
        return 'agent socket %s, command %s' % (
            self.socket_path, ' '.join(self.command + ['call', '--stdin']))

    def call(self, request, timeout_s):
        """Returns the parsed reply dict; raises TransportError when there is none."""
        body = json.dumps(request, default=str).encode('utf-8')
        try:
            return self._via_agent(body, timeout_s)
        except _NotSent as e:
            agent_failure = str(e)
        return self._via_command(body, timeout_s, agent_failure)

    def _via_agent(self, body, timeout_s):
        conn = _UnixHTTPConnection(self.socket_path, timeout_s)
        try:
            try:
                conn.connect()
            except OSError as e:
                raise _NotSent('%s: %s' % (self.socket_path,
                                           e.strerror or e))
            try:
                conn.request('POST', '/v1/call', body=body,
                             headers={'Content-Type': 'application/json'})
                resp = conn.getresponse()
                text = resp.read().decode('utf-8', 'replace')
            except (OSError, http.client.HTTPException) as e:
                raise TransportError(
                    'the linstor-virt agent at %s gave no reply: %s' %
                    (self.socket_path, e or type(e).__name__))
        finally:
            conn.close()
        return _parse(text, 'the linstor-virt agent at %s (HTTP %s)' %
                      (self.socket_path, resp.status))

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
