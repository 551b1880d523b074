package PVE::Storage::DirPlugin;

# Stand-in for the built-in `dir` plugin of pve-storage (tests only): its type and the names of
# the properties it declares, so registration sees the same global property namespace as on a
# real node. No storage behaviour.

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub type { return 'dir' }

sub plugindata {
    return { content => [{ images => 1, rootdir => 1, iso => 1, vztmpl => 1, backup => 1, snippets => 1 }, { images => 1 }], format => [{ raw => 1, qcow2 => 1 }, 'raw'] };
}

sub properties {
    return {
        path => { description => 'File system path.', type => 'string', format => 'pve-storage-path' },
        mkdir => { description => 'Create the directory.', type => 'boolean' },
        'create-base-path' => { description => 'Create the base directory.', type => 'boolean' },
        'create-subdirs' => { description => 'Populate the directory.', type => 'boolean' },
        is_mountpoint => { description => 'Assume a mount point.', type => 'string' },
        bwlimit => { description => 'I/O bandwidth limits.', type => 'string' },
    };
}

sub options {
    return {
        path => { fixed => 1 },
        nodes => { optional => 1 }, shared => { optional => 1 }, disable => { optional => 1 },
        content => { optional => 1 }, format => { optional => 1 }, 'prune-backups' => { optional => 1 },
        'max-protected-backups' => { optional => 1 }, 'content-dirs' => { optional => 1 },
        preallocation => { optional => 1 }, mkdir => { optional => 1 }, 'create-base-path' => { optional => 1 },
        'create-subdirs' => { optional => 1 }, is_mountpoint => { optional => 1 }, bwlimit => { optional => 1 },
        'snapshot-as-volume-chain' => { optional => 1 },
    };
}

1;
