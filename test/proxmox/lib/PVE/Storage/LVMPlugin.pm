package PVE::Storage::LVMPlugin;

# Stand-in for the built-in `lvm` plugin of pve-storage (tests only): its type and the names of
# the properties it declares, so registration sees the same global property namespace as on a
# real node. No storage behaviour.

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub type { return 'lvm' }

sub plugindata {
    return { content => [{ images => 1, rootdir => 1, iso => 1, vztmpl => 1, backup => 1, snippets => 1 }, { images => 1 }], format => [{ raw => 1, qcow2 => 1 }, 'raw'] };
}

sub properties {
    return {
        vgname => { description => 'Volume group name.', type => 'string' },
        base => { description => 'Base volume.', type => 'string' },
        saferemove => { description => 'Zero-out data when removing LVs.', type => 'boolean' },
        saferemove_throughput => { description => 'Wipe throughput.', type => 'string' },
        tagged_only => { description => 'Only use logical volumes tagged with pve-vm-ID.', type => 'boolean' },
    };
}

sub options {
    return {
        vgname => { fixed => 1 }, nodes => { optional => 1 }, shared => { optional => 1 },
        disable => { optional => 1 }, saferemove => { optional => 1 }, saferemove_throughput => { optional => 1 },
        content => { optional => 1 }, base => { fixed => 1, optional => 1 }, tagged_only => { optional => 1 },
        bwlimit => { optional => 1 },
    };
}

1;
