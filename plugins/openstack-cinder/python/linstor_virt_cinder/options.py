"""The driver's cinder.conf options.

Registered on ``[backend_defaults]`` at import (so a value there applies to every backend) and
appended to the backend's own section by the driver. Names shared with LINBIT's v2 driver mean the
same there; none collides with the in-tree ``cinder.volume.drivers.linstordrv`` options (its
``linstor_default_uri`` is only a deprecated alias of ``linstor_uris`` here, which oslo.config
accepts with both modules loaded in one process).
"""

from oslo_config import cfg
from oslo_config import types

from cinder.volume import configuration


class _AsWritten(object):
    """Converts like the oslo type it is mixed into, but keeps a value it cannot convert as written.

    oslo.config reads every option when cinder-volume starts (log_opt_values): a value it cannot
    convert would stop the whole service with a raw ConfigFileValueError. Kept as written, the
    value reaches linstor-virt, whose start-up check refuses the backend naming the option and
    what it must be.
    """

    def __call__(self, value):
        try:
            return super(_AsWritten, self).__call__(value)
        except ValueError:
            return value if isinstance(value, str) else str(value)


class _Integer(_AsWritten, types.Integer):
    pass


class _Dict(_AsWritten, types.Dict):
    pass

linstor_opts = [
    cfg.ListOpt('linstor_uris',
                default=['linstor://localhost'],
                deprecated_name='linstor_default_uri',
                help='LINSTOR controller URIs, comma separated (linstor://host, '
                     'linstor+ssl://host, http(s)://host:port). The first that '
                     'answers is used; list every controller of an HA setup.'),
    cfg.StrOpt('linstor_client_key',
               help='Path of the TLS client key for HTTPS controllers '
                    '(with linstor_client_cert). Read by linstor-virt, never '
                    'logged.'),
    cfg.StrOpt('linstor_client_cert',
               help='Path of the TLS client certificate for HTTPS controllers.'),
    cfg.StrOpt('linstor_trusted_ca',
               help='Path of the CA certificate that signed the controllers\' '
                    'HTTPS certificates.'),
    cfg.StrOpt('linstor_default_resource_group_name',
               help='LINSTOR resource group whose placement new volumes use '
                    'unless their volume type\'s linstor:* extra specs say '
                    'otherwise. Unset: linstor-virt\'s own group with 2 '
                    'replicas.'),
    cfg.Opt('linstor_timeout',
            type=_Integer(min=1),
            default=60,
            help='Deadline in seconds of one control call (create, delete, '
                 'snapshot, attach, ...). Stats and start-up checks use a '
                 'shorter one.'),
]

linstor_virt_opts = [
    cfg.StrOpt('linstor_virt_agent_socket',
               default='/run/linstor-virt/cinder.sock',
               help='Unix socket of the linstor-virt agent for the cinder group '
                    'on this host (linstor-virt-cinder sets it up). When it is '
                    'missing or refuses, each call runs linstor_virt_command '
                    'once instead.'),
    cfg.ListOpt('linstor_virt_command',
                default=['linstor-virt'],
                help='Command (program and leading arguments, comma separated) '
                     'of the linstor-virt CLI, run as "<command> call --stdin" '
                     'when the agent is not reachable.'),
    cfg.BoolOpt('linstor_virt_private_agent',
                default=True,
                help='When the agent\'s socket is missing or refuses, start '
                     'a private agent ("<command> agent") as a child of '
                     'cinder-volume, kept for its life, so that no call '
                     'pays a node start. False: run "<command> call --stdin" '
                     'once per call instead.'),
    cfg.Opt('linstor_virt_node_map',
            type=_Dict(),
            default={},
            help='Host names that differ from their LINSTOR node names, as '
                 'host:node pairs, comma separated (e.g. '
                 '"compute-1.example.org:compute-1"). Applies to the '
                 'attaching host (the connector\'s host) and to this '
                 'cinder-volume host.'),
    cfg.StrOpt('linstor_virt_token_file',
               help='Path of a file holding the bearer token for controllers '
                    'that require one. The token is never put in a request or '
                    'a log.'),
    cfg.ListOpt('linstor_virt_controller_volumes',
                default=[],
                help='LINSTOR resources that hold the LINSTOR controller\'s own '
                     'VM: never deleted or detached through Cinder.'),
]

OPTS = linstor_opts + linstor_virt_opts

cfg.CONF.register_opts(OPTS, group=configuration.SHARED_CONF_GROUP)

# Options of the other LINSTOR drivers that are not called linstor_*: LINBIT's fork's dd_blocksize.
FOREIGN_NAMES = ('dd_blocksize',)


def written(conf, group):
    """The linstor_* options (and FOREIGN_NAMES) as written in cinder.conf for a backend.

    Returns {name: {'value': raw string, 'section': group or 'backend_defaults'}}, the backend's
    own section winning over [backend_defaults], with values exactly as written (oslo's types are
    not applied: a bad value, or an option of another LINSTOR driver that is not registered here,
    still arrives, and linstor-virt names it at start-up). Reads the files oslo.config parsed; an
    oslo.config without that record gives {}.
    """
    parsed = getattr(getattr(conf, '_namespace', None), '_parsed', None)
    if not isinstance(parsed, list):
        return {}
    found = {}
    # oslo keeps the files last-parsed first; a later file overrides an earlier one.
    for section, label in ((configuration.SHARED_CONF_GROUP, 'backend_defaults'),
                           (group, 'backend')):
        if not section:
            continue
        for sections in reversed(parsed):
            values = sections.get(section) if isinstance(sections, dict) else None
            if not isinstance(values, dict):
                continue
            for name, raw in values.items():
                if not (name.startswith('linstor_') or name in FOREIGN_NAMES):
                    continue
                value = raw[-1] if isinstance(raw, list) and raw else raw
                if isinstance(value, str):
                    found[name] = {'value': value, 'section': label}
    return found
