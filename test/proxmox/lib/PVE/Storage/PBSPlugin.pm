package PVE::Storage::PBSPlugin;

# Stand-in for the built-in `pbs` plugin of pve-storage (tests only): its type and the names of
# the properties it declares, so registration sees the same global property namespace as on a
# real node. No storage behaviour.

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub type { return 'pbs' }

sub plugindata {
    return { content => [{ images => 1, rootdir => 1, iso => 1, vztmpl => 1, backup => 1, snippets => 1 }, { images => 1 }], format => [{ raw => 1, qcow2 => 1 }, 'raw'] };
}

sub properties {
    return {
        datastore => { description => 'Proxmox Backup Server datastore name.', type => 'string' },
        password => { description => 'Password for accessing the storage.', type => 'string' },
        'encryption-key' => { description => 'Encryption key.', type => 'string' },
        'master-pubkey' => { description => 'Master public key.', type => 'string' },
        fingerprint => { description => 'Certificate SHA 256 fingerprint.', type => 'string' },
    };
}

sub options {
    return {
        server => { fixed => 1 }, datastore => { fixed => 1 }, namespace => { optional => 1 },
        port => { optional => 1 }, nodes => { optional => 1 }, disable => { optional => 1 },
        content => { optional => 1 }, username => { optional => 1 }, password => { optional => 1 },
        'encryption-key' => { optional => 1 }, 'master-pubkey' => { optional => 1 },
        fingerprint => { optional => 1 }, 'prune-backups' => { optional => 1 },
    };
}

1;
