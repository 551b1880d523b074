package PVE::Storage::LvmThinPlugin;

# Stand-in for the built-in `lvmthin` plugin of pve-storage (tests only): its type and the names of
# the properties it declares, so registration sees the same global property namespace as on a
# real node. No storage behaviour.

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub type { return 'lvmthin' }

sub plugindata {
    return { content => [{ images => 1, rootdir => 1, iso => 1, vztmpl => 1, backup => 1, snippets => 1 }, { images => 1 }], format => [{ raw => 1, qcow2 => 1 }, 'raw'] };
}

sub properties {
    return {
        thinpool => { description => 'LVM thin pool LV name.', type => 'string' },
    };
}

sub options {
    return {
        thinpool => { fixed => 1 }, vgname => { fixed => 1 }, nodes => { optional => 1 },
        disable => { optional => 1 }, content => { optional => 1 }, bwlimit => { optional => 1 },
    };
}

1;
