package PVE::Storage::ZFSPoolPlugin;

# Stand-in for the built-in `zfspool` plugin of pve-storage (tests only): its type and the names of
# the properties it declares, so registration sees the same global property namespace as on a
# real node. No storage behaviour.

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub type { return 'zfspool' }

sub plugindata {
    return { content => [{ images => 1, rootdir => 1, iso => 1, vztmpl => 1, backup => 1, snippets => 1 }, { images => 1 }], format => [{ raw => 1, qcow2 => 1 }, 'raw'] };
}

sub properties {
    return {
        blocksize => { description => 'block size', type => 'string' },
        sparse => { description => 'use sparse volumes', type => 'boolean' },
        mountpoint => { description => 'mount point', type => 'string', format => 'pve-storage-path' },
    };
}

sub options {
    return {
        pool => { fixed => 1 }, blocksize => { optional => 1 }, sparse => { optional => 1 },
        nodes => { optional => 1 }, disable => { optional => 1 }, content => { optional => 1 },
        bwlimit => { optional => 1 }, mountpoint => { optional => 1 },
    };
}

1;
