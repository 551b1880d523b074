package PVE::Storage::Custom::LINSTORPlugin;

# Stand-in for linstor-proxmox's plugin (tests only; none of its code): the `drbd` type with the
# property names linstor-proxmox 8.x declares (../shared/reference/proxmox.md section 3.2), so the
# tests prove linstor-virt's `linstor` type loads side by side with it on one node. Like the real
# one, it makes `resourcegroup` a required option and reports an api() clamped to what it was
# tested against (here 15).

use strict;
use warnings;

use base qw(PVE::Storage::Plugin);

sub api {
    my $apiver = eval { PVE::Storage::APIVER() } // 3;
    my $apiage = eval { PVE::Storage::APIAGE() } // 0;
    return $apiver if $apiver >= 2 && $apiver <= 15;
    return 15 if $apiver - $apiage <= 15;
    return 3;
}

sub type { return 'drbd' }

sub plugindata {
    return { content => [{ images => 1, rootdir => 1 }, { images => 1 }], format => [{ raw => 1 }, 'raw'] };
}

sub properties {
    return {
        controller => { description => 'LINSTOR controllers.', type => 'string' },
        resourcegroup => { description => 'LINSTOR resource group.', type => 'string' },
        preferlocal => { description => 'Prefer a local replica (yes/no).', type => 'string' },
        statuscache => { description => 'Status cache seconds.', type => 'integer', minimum => 0, maximum => 7200 },
        exactsize => { description => 'Exact size (yes/no).', type => 'string' },
        allowtwoprimaries => { description => 'Allow two primaries (yes/no).', type => 'string' },
        apicrt => { description => 'Client certificate.', type => 'string' },
        apikey => { description => 'Client key.', type => 'string' },
        apica => { description => 'CA certificate.', type => 'string' },
        clusterlocktimeout => { description => 'Cluster lock timeout.', type => 'integer', minimum => 0 },
        searchdomain => { description => 'Search domain of node names.', type => 'string' },
    };
}

sub options {
    return {
        resourcegroup => {},
        controller => { optional => 1 },
        preferlocal => { optional => 1 },
        statuscache => { optional => 1 },
        exactsize => { optional => 1 },
        allowtwoprimaries => { optional => 1 },
        apicrt => { optional => 1 },
        apikey => { optional => 1 },
        apica => { optional => 1 },
        clusterlocktimeout => { optional => 1 },
        searchdomain => { optional => 1 },
        content => { optional => 1 },
        disable => { optional => 1 },
        nodes => { optional => 1 },
    };
}

1;
