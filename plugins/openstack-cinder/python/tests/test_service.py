"""Start-up smoke of a real cinder-volume process with our driver in a named backend section.

cinder.conf with the fake RPC transport and sqlite, `cinder-manage db sync`, then cinder-volume
(which forks one child per backend). It must parse our options from [lv-1], load the driver,
initialise it ("Driver initialization completed successfully") with its start-up check and stats
calls reaching the agent (its GET /health counter of served calls). No ERROR line may appear.
(The periodic stats poll is not waited for: its spacing is fixed at import to 60 s.)
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from tests import live

PYTHON = '/usr/bin/python3'
BOOT_TIMEOUT_S = 60


class CinderVolumeServiceTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='lv-cinder-volume-',
                                    dir=os.environ.get('LV_TEST_TMP'))
        self.conf = os.path.join(self.dir, 'cinder.conf')
        self.log = os.path.join(self.dir, 'cinder-volume.log')
        self.socket = live.env('LV_TEST_AGENT_SOCKET')
        for d in ('state', 'locks'):
            os.mkdir(os.path.join(self.dir, d))
        self._write_conf()

    def _write_conf(self, default=(), backend=('linstor_timeout = 30',)):
        with open(self.conf, 'w') as f:
            f.write('\n'.join([
                '[DEFAULT]',
                'transport_url = fake:/',
                'enabled_backends = lv-1',
                'host = cinder-smoke',
                'auth_strategy = noauth',
                'debug = true',
                'state_path = %s/state' % self.dir,
                'log_file = %s' % self.log,
            ] + list(default) + [
                '[database]',
                'connection = sqlite:///%s/cinder.sqlite' % self.dir,
                '[oslo_concurrency]',
                'lock_path = %s/locks' % self.dir,
                '[lv-1]',
                'volume_driver = linstor_virt_cinder.driver.LinstorVirtDriver',
                'volume_backend_name = lv-1',
                'linstor_uris = %s' % live.env('LV_TEST_CONTROLLERS'),
                'linstor_virt_agent_socket = %s' % self.socket,
                'linstor_virt_command = %s,%s' % (live.env('LV_TEST_CLI_NODE'),
                                                  live.env('LV_TEST_CLI')),
                'linstor_virt_node_map = %s:%s' % (socket.gethostname(),
                                                   live.CINDER_NODE),
            ] + list(backend) + ['']))

    def tearDown(self):
        subprocess.call(['rm', '-rf', self.dir])

    def _cinder(self, argv0, module, *args, **kw):
        code = ('import sys; sys.argv = %r; from cinder.cmd import %s; %s.main()'
                % ([argv0, '--config-file', self.conf] + list(args), module, module))
        return [PYTHON, '-c', code]

    def _log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def _boot(self, until):
        """Runs cinder-volume until `until` is in its log (or the boot timeout); its output."""
        subprocess.run(self._cinder('cinder-manage', 'manage', 'db', 'sync'),
                       check=True, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
        proc = subprocess.Popen(self._cinder('cinder-volume', 'volume'),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + BOOT_TIMEOUT_S
            while time.monotonic() < deadline and proc.poll() is None:
                if until in self._log():
                    break
                time.sleep(0.25)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            output = proc.stdout.read().decode(errors='replace')
            proc.stdout.close()
        return output

    def test_bad_and_foreign_options_refuse_the_backend_at_start_up(self):
        # A typed option oslo cannot convert and another driver's option linstor-virt does not
        # honour: cinder-volume refuses the backend when it starts, naming both (not oslo's
        # ConfigFileValueError at the first volume call); one warning for [backend_defaults].
        self._write_conf(
            default=['reinit_driver_count = 0', '[backend_defaults]',
                     'linstor_force_udev = False'],
            backend=['linstor_timeout = abc',
                     'linstor_volume_downsize_factor = 4096'])
        output = self._boot('Failed to initialize driver.')
        log = self._log()
        detail = '\n--- log ---\n%s\n--- output ---\n%s' % (log[-20000:], output[-5000:])
        self.assertIn('Failed to initialize driver.', log, detail)
        self.assertIn('[lv-1] linstor_timeout = abc: must be a whole number of '
                      'seconds of at least 1', log, detail)
        self.assertIn('[lv-1] linstor_volume_downsize_factor = 4096: not used: '
                      'volumes are made exactly the size Cinder asks for; '
                      'remove it', log, detail)
        self.assertNotIn('Driver initialization completed successfully', log,
                         detail)
        self.assertNotIn('ConfigFileValueError', log, detail)

    def test_cinder_volume_starts_with_the_driver(self):
        before = live.agent_calls(self.socket)
        output = self._boot('Driver post RPC initialization completed successfully')
        served = live.agent_calls(self.socket) - before
        log = self._log()
        detail = '\n--- log ---\n%s\n--- output ---\n%s' % (log[-20000:], output[-5000:])
        self.assertIn('Starting volume driver LinstorVirtDriver (1.0.0)', log, detail)
        self.assertIn('Driver initialization completed successfully', log,
                      'within %d s%s' % (BOOT_TIMEOUT_S, detail))
        self.assertIn('Driver post RPC initialization completed successfully',
                      log, detail)
        # check, then stats at init_capabilities, at the capability report and after RPC init.
        self.assertGreaterEqual(served, 3, 'calls that reached the agent' + detail)
        self.assertEqual(1, log.count('linstor-virt check answered'), detail)
        self.assertGreaterEqual(log.count('linstor-virt stats answered'), 2, detail)
        self.assertIn("'backend_state': 'up'", log, detail)
        # Our options were parsed from the backend section.
        self.assertIn('lv-1.linstor_virt_node_map', log, detail)
        self.assertIn(live.env('LV_TEST_CONTROLLERS'), log, detail)
        errors = [ln for ln in log.splitlines()
                  if re.match(r'^\S+ \S+ \d+ (ERROR|CRITICAL) ', ln)]
        self.assertEqual([], errors, detail)
        self.assertNotIn('Traceback', log, detail)


if __name__ == '__main__':
    sys.exit(unittest.main())
