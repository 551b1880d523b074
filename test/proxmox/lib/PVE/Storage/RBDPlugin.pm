package PVE::Storage::RBDPlugin;

# Stand-in for the built-in `rbd` plugin of pve-storage (tests only): its type and the names of
# the properties it declares, so registration sees the same global property namespace as on a
# real node. No storage behaviour.

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub type { return 'rbd' }

sub plugindata {
    return { content => [{ images => 1, rootdir => 1, iso => 1, vztmpl => 1, backup => 1, snippets => 1 }, { images => 1 }], format => [{ raw => 1, qcow2 => 1 }, 'raw'] };
}

sub properties {
    return {
        monhost => { description => 'IP addresses of monitors.', type => 'string' },
        pool => { description => 'Pool.', type => 'string' },
        'data-pool' => { description => 'Data Pool (for erasure coding only).', type => 'string' },
        namespace => { description => 'Namespace.', type => 'string' },
        username => { description => 'RBD Id.', type => 'string' },
        authsupported => { description => 'Authsupported.', type => 'string' },
        krbd => { description => 'Always access rbd through krbd kernel module.', type => 'boolean' },
        keyring => { description => 'Client keyring contents.', type => 'string' },
    };
}

sub options {
    return {
        nodes => { optional => 1 }, disable => { optional => 1 }, monhost => { optional => 1 },
        pool => { optional => 1 }, 'data-pool' => { optional => 1 }, namespace => { optional => 1 },
        username => { optional => 1 }, content => { optional => 1 }, krbd => { optional => 1 },
        keyring => { optional => 1 }, bwlimit => { optional => 1 },
    };
}

1;
