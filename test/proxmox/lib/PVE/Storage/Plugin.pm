package PVE::Storage::Plugin;

# Stand-in for pve-storage's PVE::Storage::Plugin (tests only): the base class of every storage
# plugin, with the smallest surface the linstor-virt shim and its tests touch, modelled on
# ../shared/reference/proxmox.md (sections 1.1, 1.3 and 2):
# - the base properties every storage type shares (type, storage, nodes, content, disable, shared,
#   format, ...) in the one global property list of SectionConfig's unified mode;
# - @SHARED_STORAGE, whose types parse_config forces to `shared 1`;
# - the section header rule (type lower-cased, storage ID checked, bad IDs skip the section);
# - content/nodes decoded into hashes (unsupported content types dropped with a warning; content
#   defaults to the plugin's default content);
# - sensitive_properties() (plugindata's list, else the legacy default list);
# - the base-class defaults a plugin inherits when it does not override them.

use strict;
use warnings;

use PVE::JSONSchema qw(get_standard_option);
use PVE::Tools qw(split_list);

use base qw(PVE::SectionConfig);

our @SHARED_STORAGE = qw(iscsi nfs cifs rbd cephfs iscsidirect glusterfs zfs drbd pbs);

PVE::JSONSchema::register_format('pve-storage-path', sub {
    my ($path) = @_;
    die "value does not look like a valid absolute path\n" if $path !~ m|^/[^;\(\)]+|;
    return $path;
});

PVE::JSONSchema::register_format('pve-storage-content', sub {
    my ($ct) = @_;
    die "invalid content type '$ct'\n"
        if $ct !~ m/^(?:images|rootdir|vztmpl|iso|backup|snippets|import|none)\z/;
    return $ct;
});

my $defaultData = {
    propertyList => {
        type => { description => 'Storage type.' },
        storage => get_standard_option('pve-storage-id'),
        nodes => get_standard_option('pve-node-list', { optional => 1 }),
        content => { description => 'Allowed content types.', type => 'string', format => 'pve-storage-content-list', optional => 1 },
        disable => { description => 'Flag to disable the storage.', type => 'boolean', optional => 1 },
        shared => { description => 'Mark the storage as shared.', type => 'boolean', optional => 1 },
        format => { description => 'Default image format.', type => 'string', enum => [qw(raw qcow2 vmdk subvol)], optional => 1 },
        'prune-backups' => { description => 'Retention options.', type => 'string', optional => 1 },
        'max-protected-backups' => { description => 'Maximal number of protected backups.', type => 'integer', minimum => -1, optional => 1 },
        preallocation => { description => 'Preallocation mode.', type => 'string', enum => [qw(off metadata falloc full)], optional => 1 },
        subdir => { description => 'Subdir to mount.', type => 'string', format => 'pve-storage-path', optional => 1 },
        'content-dirs' => { description => 'Content directory overrides.', type => 'string', optional => 1 },
        options => { description => 'NFS/CIFS mount options.', type => 'string', optional => 1 },
        port => { description => 'Port.', type => 'integer', minimum => 1, maximum => 65535, optional => 1 },
        'snapshot-as-volume-chain' => { description => 'Volume chains.', type => 'boolean', optional => 1 },
    },
};

sub private {
    return $defaultData;
}

sub parse_section_header {
    my ($class, $line) = @_;
    return undef if $line !~ m/^(\S+):\s*(\S+)\s*\z/;
    my ($type, $storeid) = (lc($1), $2);
    my $errmsg;
    eval { PVE::JSONSchema::parse_storage_id($storeid) };
    $errmsg = $@ if $@;
    return ($type, $storeid, $errmsg, {});
}

sub decode_value {
    my ($class, $type, $key, $value) = @_;
    my $def = $defaultData->{plugindata}->{$type} // {};
    if ($key eq 'content') {
        my $valid = $def->{content}->[0] // {};
        my %res;
        for my $c (split_list($value)) {
            if (!$valid->{$c}) {
                warn "storage does not support content type '$c'\n";
                next;
            }
            $res{$c} = 1;
        }
        die "storage does not support content type 'none'\n" if !%res && !$valid->{none};
        return \%res;
    }
    if ($key eq 'nodes') {
        return { map { $_ => 1 } grep { PVE::JSONSchema::pve_verify_node_name($_, 1) } split_list($value) };
    }
    return $value;
}

sub parse_config {
    my ($class, $filename, $raw) = @_;
    my $cfg = $class->SUPER::parse_config($filename, $raw);
    my $ids = $cfg->{ids};
    # PVE always has a `local` directory storage.
    if (!$ids->{local} || $ids->{local}->{type} ne 'dir') {
        $ids->{local} = { type => 'dir', path => '/var/lib/vz', content => { images => 1, rootdir => 1, iso => 1, vztmpl => 1, backup => 1, snippets => 1 } };
    }
    for my $storeid (keys %$ids) {
        my $d = $ids->{$storeid};
        my $def = $defaultData->{plugindata}->{ $d->{type} } // {};
        $d->{content} = { %{ $def->{content}->[1] } } if !$d->{content} && $def->{content};
        $d->{shared} = 1 if grep { $_ eq $d->{type} } @SHARED_STORAGE;
    }
    return $cfg;
}

sub sensitive_properties {
    my ($type) = @_;
    my $data = $defaultData->{plugindata}->{$type};
    if (my $list = $data && $data->{'sensitive-properties'}) {
        return [sort keys %$list];
    }
    return [qw(encryption-key keyring master-pubkey password)];
}

# Base-class defaults (the ones a plugin inherits unless it overrides them).

sub check_connection { return 1 }
sub activate_storage { return 1 }
sub deactivate_storage { return 1 }
sub on_add_hook { return undef }
sub on_update_hook { return undef }
sub on_delete_hook { return undef }

sub on_update_hook_full {
    my ($class, $storeid, $scfg, $update, $delete, $sensitive) = @_;
    return $class->on_update_hook($storeid, $update, %{ $sensitive // {} });
}

sub get_formats {
    my ($class, $scfg, $storeid) = @_;
    my $def = $defaultData->{plugindata}->{ $scfg->{type} // $class->type() } // {};
    my $formats = $def->{format} // [{ raw => 1 }, 'raw'];
    return { default => $scfg->{format} // $formats->[1], valid => { %{ $formats->[0] } } };
}

sub volume_snapshot_needs_fsfreeze { return 0 }

# The real one runs $func under the cluster-wide lock of a shared storage (pmxcfs) or a local
# flock; here there is no cluster: the code runs at once. The calls are counted for the tests.
our @LOCKED;

sub cluster_lock_storage {
    my ($class, $storeid, $shared, $timeout, $func, @param) = @_;
    push @LOCKED, { storeid => $storeid, shared => $shared ? 1 : 0 };
    return $func->(@param);
}

1;
