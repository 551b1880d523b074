#!/usr/bin/perl
# Driver for end-to-end tests of the Proxmox shim (used by the TypeScript tests): loads the PVE
# stand-ins and the shim the way a node does (PVE::Storage: register, api window, init), calls one
# plugin method and prints ONE JSON line on stdout.
#
#   perl -I<repo>/test/proxmox/lib -I<repo>/plugins/proxmox/perl <repo>/test/proxmox/drive.pl \
#       <method> '<JSON array of the arguments>'
#
# Output (exit status 0 either way):
#   {"result": <return value>}       list-context methods give an array (see "Context" below)
#   {"error": "<die text>"}          verbatim, including the trailing "\n" of the shim's dies
#   volume_rollback_is_possible adds "blockers": [...] (what the shim pushed onto the array).
# Exit status 2 (message on stderr, nothing on stdout): bad usage, unknown method, bad JSON.
#
# Environment:
#   LV_PVE_SCFG          JSON object of storage.cfg keys of the section (default {}), e.g.
#                        {"linstor-place-count":"3","content":"images,rootdir"}; true/false become
#                        1/0, arrays are joined with commas. It is written out as a storage.cfg
#                        section and parsed by the stand-in PVE parser, so $scfg is what PVE would
#                        hand the plugin (content/nodes as hashes, shared 1, invalid values dropped
#                        with a warning on stderr). "type" defaults to linstor.
#   LV_PVE_SCFG_RAW=1    use LV_PVE_SCFG as $scfg as is (no storage.cfg parsing).
#   LV_PVE_STOREID       the storage id (default lv).
#   LV_PVE_CONTEXT       list or scalar: overrides the calling context (see below).
#   LV_PVE_EXPORT_FILE   volume_export writes its stream (8-byte size header + data) to this file.
#   LV_PVE_IMPORT_FILE   volume_import reads its stream from this file.
#   LV_PVE_NODENAME, LV_PVE_APIVER, LV_PVE_APIAGE: see the stand-ins (test/proxmox/lib).
#   Everything the shim reads (LINSTOR_VIRT_AGENT_SOCKET, LINSTOR_VIRT_NODE, LINSTOR_VIRT_CLI,
#   LINSTOR_VIRT_DEVICE_ROOT, LINSTOR_VIRT_PVE_PRIV_DIR, LINSTOR_VIRT_DEADLINE_SCALE) passes through.
#
# Arguments: the JSON array holds only the arguments OTHER than $storeid, $scfg (and the file
# handle of export/import, and the blockers array of volume_rollback_is_possible), in the order
# of the PVE signature; the driver puts $storeid/$scfg/... where each signature wants them.
# Trailing arguments may be left out (they are then undef).
#
#   method                        PVE signature after $class            JSON array
#   api type plugindata properties options                               []
#   parse_volname                 (volname)                             [volname]
#   filesystem_path               (scfg, volname, snapname)             [volname, snapname]
#   path                          (scfg, volname, storeid, snapname)    [volname, snapname]
#   volume_has_feature            (scfg, feature, storeid, volname,     [feature, volname, snapname,
#                                  snapname, running, opts)              running, opts]
#   check_connection              (storeid, scfg)                       []
#   get_formats                   (scfg, storeid)                       []
#   activate_storage              (storeid, scfg, cache)                [cache]
#   deactivate_storage            (storeid, scfg, cache)                [cache]
#   status                        (storeid, scfg, cache)                [cache]
#   alloc_image                   (storeid, scfg, vmid, fmt, name,      [vmid, fmt, name, sizeKiB]
#                                  size_kib)
#   free_image                    (storeid, scfg, volname, isBase, fmt) [volname, isBase, format]
#   list_images                   (storeid, scfg, vmid, vollist, cache) [vmid, vollist, cache]
#   activate_volume               (storeid, scfg, volname, snapname,    [volname, snapname, cache,
#                                  cache, hints)                         hints]
#   deactivate_volume             (storeid, scfg, volname, snapname,    [volname, snapname, cache]
#                                  cache)
#   map_volume                    (storeid, scfg, volname, snapname,    [volname, snapname, hints]
#                                  hints)
#   unmap_volume                  (storeid, scfg, volname, snapname)    [volname, snapname]
#   volume_size_info              (scfg, storeid, volname, timeout)     [volname, timeout]
#   volume_resize                 (scfg, storeid, volname, size_bytes,  [volname, sizeBytes, running,
#                                  running, snapname)                    snapname]
#   volume_snapshot               (scfg, storeid, volname, snap)        [volname, snap]
#   volume_snapshot_delete        (scfg, storeid, volname, snap,        [volname, snap, running]
#                                  running)
#   volume_rollback_is_possible   (scfg, storeid, volname, snap,        [volname, snap]
#                                  blockers)                             (blockers: the driver's array)
#   volume_snapshot_rollback      (scfg, storeid, volname, snap)        [volname, snap]
#   volume_snapshot_info          (scfg, storeid, volname)              [volname]
#   volume_qemu_snapshot_method   (storeid, scfg, volname)              [volname]
#   clone_image                   (scfg, storeid, volname, vmid, snap)  [volname, vmid, snap]
#   create_base                   (storeid, scfg, volname)              [volname]
#   rename_volume                 (scfg, storeid, src_volname,          [volname, targetVmid,
#                                  target_vmid, target_volname)          targetVolname]
#   volume_export_formats         (scfg, storeid, volname, snapshot,    [volname, snapshot,
#   volume_import_formats          base_snapshot, with_snapshots)        base_snapshot, with_snapshots]
#   volume_export                 (scfg, storeid, fh, volname, format,  [volname, format, snapshot,
#                                  snapshot, base_snapshot,              base_snapshot, with_snapshots]
#                                  with_snapshots)                       (fh: LV_PVE_EXPORT_FILE)
#   volume_import                 (scfg, storeid, fh, volname, format,  [volname, format, snapshot,
#                                  snapshot, base_snapshot,              base_snapshot, with_snapshots,
#                                  with_snapshots, allow_rename)         allow_rename]
#                                                                        (fh: LV_PVE_IMPORT_FILE)
#   on_add_hook                   (storeid, scfg, %sensitive)           [{sensitive}] or the flat
#   on_update_hook                (storeid, scfg, %sensitive)           list [key, value, ...]
#   on_update_hook_full           (storeid, scfg, update, delete,       [update, delete, sensitive]
#                                  sensitive)
#   on_delete_hook                (storeid, scfg)                       []
#
# Context: parse_volname, status, volume_export_formats and volume_import_formats are called in
# list context (result: an array); everything else in scalar context. LV_PVE_CONTEXT=list makes
# e.g. path/filesystem_path return [path, vmid, vtype] and volume_size_info [size, format, used,
# parent].
# JSON true/false arguments arrive as 1/0.

use strict;
use warnings;

use JSON::PP;
use PVE::Storage;    # the stand-in: registers the built-ins and loads the shim from @INC

my $PLUGIN = 'PVE::Storage::Custom::LinstorVirtPlugin';

# Positions: storeid, scfg, fh_out, fh_in, blockers are filled by the driver; '1' takes the next
# JSON argument; '*' takes all remaining ones; '%' flattens a single JSON object (or takes the
# remaining flat list).
my %SIGNATURE = (
    api => [],
    type => [],
    plugindata => [],
    properties => [],
    options => [],
    parse_volname => ['*'],
    filesystem_path => ['scfg', '*'],
    path => ['scfg', '1', 'storeid', '*'],
    volume_has_feature => ['scfg', '1', 'storeid', '*'],
    check_connection => ['storeid', 'scfg'],
    get_formats => ['scfg', 'storeid'],
    activate_storage => ['storeid', 'scfg', '*'],
    deactivate_storage => ['storeid', 'scfg', '*'],
    status => ['storeid', 'scfg', '*'],
    alloc_image => ['storeid', 'scfg', '*'],
    free_image => ['storeid', 'scfg', '*'],
    list_images => ['storeid', 'scfg', '*'],
    activate_volume => ['storeid', 'scfg', '*'],
    deactivate_volume => ['storeid', 'scfg', '*'],
    map_volume => ['storeid', 'scfg', '*'],
    unmap_volume => ['storeid', 'scfg', '*'],
    volume_size_info => ['scfg', 'storeid', '*'],
    volume_resize => ['scfg', 'storeid', '*'],
    volume_snapshot => ['scfg', 'storeid', '*'],
    volume_snapshot_delete => ['scfg', 'storeid', '*'],
    volume_rollback_is_possible => ['scfg', 'storeid', '1', '1', 'blockers'],
    volume_snapshot_rollback => ['scfg', 'storeid', '*'],
    volume_snapshot_info => ['scfg', 'storeid', '*'],
    volume_qemu_snapshot_method => ['storeid', 'scfg', '*'],
    clone_image => ['scfg', 'storeid', '*'],
    create_base => ['storeid', 'scfg', '*'],
    rename_volume => ['scfg', 'storeid', '*'],
    volume_export_formats => ['scfg', 'storeid', '*'],
    volume_import_formats => ['scfg', 'storeid', '*'],
    volume_export => ['scfg', 'storeid', 'fh_out', '*'],
    volume_import => ['scfg', 'storeid', 'fh_in', '*'],
    on_add_hook => ['storeid', 'scfg', '%'],
    on_update_hook => ['storeid', 'scfg', '%'],
    on_update_hook_full => ['storeid', 'scfg', '*'],
    on_delete_hook => ['storeid', 'scfg'],
);

my %LIST_CONTEXT = map { $_ => 1 } qw(parse_volname status volume_export_formats volume_import_formats);

sub usage {
    my ($why) = @_;
    print STDERR "drive.pl: $why\nusage: drive.pl <method> '<JSON array of arguments>'\n";
    exit(2);
}

# JSON booleans become 1/0, recursively, as PVE would pass them.
sub plain {
    my ($v) = @_;
    return $v ? 1 : 0 if JSON::PP::is_bool($v);
    return [map { plain($_) } @$v] if ref($v) eq 'ARRAY';
    return { map { $_ => plain($v->{$_}) } keys %$v } if ref($v) eq 'HASH';
    return $v;
}

sub build_scfg {
    my ($storeid) = @_;
    my $text = $ENV{LV_PVE_SCFG} // '{}';
    my $in = eval { JSON::PP->new->decode($text) };
    usage("LV_PVE_SCFG is not a JSON object: $@") if ref($in) ne 'HASH';
    return plain($in) if $ENV{LV_PVE_SCFG_RAW};
    my $type = delete($in->{type}) // 'linstor';
    my $cfg = "$type: $storeid\n";
    for my $key (sort keys %$in) {
        my $v = $in->{$key};
        $v = $v ? 1 : 0 if JSON::PP::is_bool($v);
        $v = join(',', @$v) if ref($v) eq 'ARRAY';
        usage("LV_PVE_SCFG: '$key' must be a string, number, boolean or array") if ref($v);
        $cfg .= defined($v) && $v ne '' ? "\t$key $v\n" : "\t$key\n";
    }
    my $parsed = PVE::Storage::Plugin->parse_config('storage.cfg', $cfg);
    my $scfg = $parsed->{ids}->{$storeid};
    usage("LV_PVE_SCFG: PVE would skip this section (see the warnings above)") if !$scfg;
    return $scfg;
}

my ($method, $json_args) = @ARGV;
usage('no method given') if !defined($method);
usage("unknown method '$method'") if !$SIGNATURE{$method};
my $args = eval { JSON::PP->new->decode($json_args // '[]') };
usage('the arguments are not a JSON array' . ($@ ? ": $@" : '')) if ref($args) ne 'ARRAY';
$args = plain($args);

my $storeid = $ENV{LV_PVE_STOREID} // 'lv';
my $scfg = build_scfg($storeid);
my @blockers;
my ($fh, @call);
for my $slot (@{ $SIGNATURE{$method} }) {
    if ($slot eq 'storeid') {
        push @call, $storeid;
    } elsif ($slot eq 'scfg') {
        push @call, $scfg;
    } elsif ($slot eq 'blockers') {
        push @call, \@blockers;
    } elsif ($slot eq 'fh_out') {
        my $file = $ENV{LV_PVE_EXPORT_FILE} // usage('volume_export needs LV_PVE_EXPORT_FILE');
        open($fh, '>:raw', $file) or usage("cannot write $file: $!");
        push @call, $fh;
    } elsif ($slot eq 'fh_in') {
        my $file = $ENV{LV_PVE_IMPORT_FILE} // usage('volume_import needs LV_PVE_IMPORT_FILE');
        open($fh, '<:raw', $file) or usage("cannot read $file: $!");
        push @call, $fh;
    } elsif ($slot eq '1') {
        push @call, shift(@$args);
    } elsif ($slot eq '*') {
        push @call, @$args;
        @$args = ();
    } elsif ($slot eq '%') {
        push @call, (@$args == 1 && ref($args->[0]) eq 'HASH') ? %{ $args->[0] } : @$args;
        @$args = ();
    }
}
usage("too many arguments for $method") if @$args;

my $list = $ENV{LV_PVE_CONTEXT} ? $ENV{LV_PVE_CONTEXT} eq 'list' : $LIST_CONTEXT{$method};
my $out = {};
my $ok = eval {
    if ($list) {
        $out->{result} = [$PLUGIN->$method(@call)];
    } else {
        $out->{result} = scalar($PLUGIN->$method(@call));
    }
    1;
};
if (!$ok) {
    delete($out->{result});
    my $err = $@;
    $out->{error} = ref($err) ? "$err" : $err;
}
close($fh) if $fh;
$out->{blockers} = \@blockers if $method eq 'volume_rollback_is_possible';

my $encoder = JSON::PP->new->canonical->allow_nonref->allow_unknown->allow_blessed->convert_blessed;
# The die text may hold UTF-8 bytes; decode them so the JSON line is valid UTF-8 once encoded.
if (defined($out->{error}) && !utf8::is_utf8($out->{error})) {
    my $copy = $out->{error};
    $out->{error} = $copy if utf8::decode($copy);
}
print $encoder->utf8->encode($out), "\n";
exit(0);
