package PVE::Storage::NFSPlugin;

# Stand-in for the built-in `nfs` plugin of pve-storage (tests only): its type and the names of
# the properties it declares, so registration sees the same global property namespace as on a
# real node. No storage behaviour.

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub type { return 'nfs' }

sub plugindata {
    return { content => [{ images => 1, rootdir => 1, iso => 1, vztmpl => 1, backup => 1, snippets => 1 }, { images => 1 }], format => [{ raw => 1, qcow2 => 1 }, 'raw'] };
}

sub properties {
    return {
        server => { description => 'Server IP or DNS name.', type => 'string' },
        export => { description => 'NFS export path.', type => 'string', format => 'pve-storage-path' },
    };
}

sub options {
    return {
        path => { fixed => 1 }, server => { fixed => 1 }, export => { fixed => 1 },
        nodes => { optional => 1 }, disable => { optional => 1 }, options => { optional => 1 },
        content => { optional => 1 }, format => { optional => 1 }, 'prune-backups' => { optional => 1 },
        preallocation => { optional => 1 }, bwlimit => { optional => 1 },
    };
}

1;
