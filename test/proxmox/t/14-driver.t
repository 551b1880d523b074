# test/proxmox/drive.pl, the driver the TypeScript end-to-end tests use: argument placement per
# signature, list/scalar context, export/import files, errors, against the fake agent.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../tlib";
use Test::More;

use JSON::PP;
use LVTest qw(temp_dir read_file write_file run_cmd lib_dirs);

my $agent = LVTest::FakeAgent->start();
my $dir = temp_dir();
mkdir("$dir/priv");
my $driver = LVTest::repo_root() . '/test/proxmox/drive.pl';
my %env = (
    LINSTOR_VIRT_AGENT_SOCKET => $agent->socket_path(),
    LINSTOR_VIRT_CLI => "$dir/none.js",
    LINSTOR_VIRT_PVE_PRIV_DIR => "$dir/priv",
    LV_PVE_NODENAME => 'charlie',
    LV_PVE_SCFG => '{"linstor-place-count":"3","content":"images,rootdir","linstor-prefer-local":true}',
    LV_PVE_STOREID => 'drbdx',
);

sub drive {
    my ($method, $args, %extra) = @_;
    my $r = run_cmd([$^X, (map { "-I$_" } lib_dirs()), $driver, $method, defined($args) ? JSON::PP->new->canonical->encode($args) : ()],
        env => { %env, %extra });
    my @lines = split(/\n/, $r->{out});
    my $out = @lines == 1 ? eval { JSON::PP->new->utf8->decode($lines[0]) } : undef;
    return ($r, $out);
}

my ($r, $out) = drive('parse_volname', ['base-100-disk-0']);
is($r->{code}, 0, 'exit 0');
is_deeply($out, { result => ['images', 'base-100-disk-0', '100', undef, undef, 1, 'raw'] }, 'parse_volname: list context');

($r, $out) = drive('path', ['vm-100-disk-0', 'vzdump']);
is_deeply($out, { result => '/dev/drbd/by-res/snap_vm-100-disk-0_vzdump/0' }, 'path: storeid placed third, scalar context');
($r, $out) = drive('path', ['vm-100-disk-0'], LV_PVE_CONTEXT => 'list', LINSTOR_VIRT_DEVICE_ROOT => '/emu/c');
is_deeply($out, { result => ['/emu/c/dev/drbd/by-res/vm-100-disk-0/0', '100', 'images'] }, 'path: list context, deviceRoot');

($r, $out) = drive('volume_has_feature', ['clone', 'base-100-disk-0', undef, 0]);
is_deeply($out, { result => 1 }, 'volume_has_feature: feature before storeid');

($r, $out) = drive('parse_volname', ['../x']);
is($r->{code}, 0, 'a die still exits 0');
is_deeply($out, { error => "linstor-virt: unable to parse volume name '../x'\n" }, 'the die text verbatim');

$agent->set_replies({ status => { result => { total => 100, avail => 60, used => 40, active => JSON::PP::true } } });
$agent->clear();
($r, $out) = drive('status', []);
is_deeply($out, { result => [100, 60, 40, 1] }, 'status: list context');
my $req = $agent->last_request()->{request};
is($req->{config}->{storeid}, 'drbdx', 'storeid from LV_PVE_STOREID');
is($req->{config}->{node}, 'charlie', 'node from LV_PVE_NODENAME');
is_deeply($req->{config}->{scfg}, { 'linstor-place-count' => 3, content => { images => 1, rootdir => 1 }, 'linstor-prefer-local' => 1, shared => 1 },
    'scfg as PVE parses LV_PVE_SCFG');

($r, $out) = drive('status', [], LV_PVE_SCFG => '{"linstor-place-count":"3","weird":"x"}', LV_PVE_SCFG_RAW => '1');
is_deeply($agent->last_request()->{request}->{config}->{scfg}, { 'linstor-place-count' => 3, weird => 'x' }, 'LV_PVE_SCFG_RAW passes the object as is');

($r, $out) = drive('status', [], LV_PVE_SCFG => '{"linstor-prefer-local":"yes"}');
is_deeply($agent->last_request()->{request}->{config}->{scfg}, { content => { images => 1 }, shared => 1 }, 'values PVE rejects are dropped');
like($r->{err}, qr/type check \('boolean'\) failed/, '... with the parser warning on stderr');

$agent->set_replies({ alloc_image => { result => { volname => 'vm-100-disk-2' } } });
$agent->clear();
($r, $out) = drive('alloc_image', [100, 'raw', undef, 4096]);
is_deeply($out, { result => 'vm-100-disk-2' }, 'alloc_image');
is_deeply($agent->last_request()->{request}->{arguments}, { vmid => 100, fmt => 'raw', name => undef, sizeKib => 4096 }, '... arguments after storeid and scfg');

$agent->set_replies({ free_image => { error => { code => 'BUSY', message => 'vm-100-disk-2 is in use on alpha' } } });
($r, $out) = drive('free_image', ['vm-100-disk-2', JSON::PP::false]);
is_deeply($out, { error => "vm-100-disk-2 is in use on alpha\n" }, 'an error reply');
is_deeply($agent->last_request()->{request}->{arguments}, { volname => 'vm-100-disk-2', isBase => JSON::PP::false }, 'JSON false became 0, sent as false');

$agent->set_replies({ volume_rollback_is_possible => { result => { possible => JSON::PP::false, blockers => ['s2', 's3'], message => 'newer snapshots: s2, s3' } } });
($r, $out) = drive('volume_rollback_is_possible', ['vm-100-disk-0', 's1']);
is_deeply($out, { error => "newer snapshots: s2, s3\n", blockers => ['s2', 's3'] }, 'rollback blockers in the output');

$agent->set_replies({ rename_volume => { result => { volname => 'vm-101-disk-0' } } });
($r, $out) = drive('rename_volume', ['vm-100-disk-0', 101]);
is_deeply($out, { result => 'drbdx:vm-101-disk-0' }, 'rename_volume: omitted trailing arguments are undef');

# export / import through files
my $device = "$dir/dev";
write_file($device, 'abcdefghij' x 1000);
$agent->set_replies({
    volume_export_begin => { result => { path => $device, size => 10_000, handle => 'e' } },
    volume_import_begin => { result => { volname => 'vm-100-disk-0', path => "$dir/target", handle => 'i' } },
});
($r, $out) = drive('volume_export', ['vm-100-disk-0', 'raw+size', undef, undef, 0], LV_PVE_EXPORT_FILE => "$dir/stream");
is_deeply($out, { result => 1 }, 'volume_export');
is(read_file("$dir/stream"), pack('Q<', 10_000) . ('abcdefghij' x 1000), 'the stream in LV_PVE_EXPORT_FILE');
write_file("$dir/target", "\0" x 10_000);
($r, $out) = drive('volume_import', ['vm-100-disk-0', 'raw+size', undef, undef, 0, 1], LV_PVE_IMPORT_FILE => "$dir/stream");
is_deeply($out, { result => 'drbdx:vm-100-disk-0' }, 'volume_import from LV_PVE_IMPORT_FILE');
is(read_file("$dir/target"), 'abcdefghij' x 1000, '... wrote the device');

($r, $out) = drive('volume_export_formats', ['vm-100-disk-0']);
is_deeply($out, { result => ['raw+size'] }, 'volume_export_formats: list');

# hooks: sensitive as an object or a flat list
$agent->clear();
($r, $out) = drive('on_add_hook', [{ 'linstor-token' => 'tok1' }]);
is_deeply($out, { result => undef }, 'on_add_hook with an object');
is(read_file("$dir/priv/storage/drbdx.linstor-token"), "tok1\n", '... stored the token');
($r, $out) = drive('on_update_hook', ['linstor-token', undef]);
ok(!-e "$dir/priv/storage/drbdx.linstor-token", 'on_update_hook with a flat list deleting it');
($r, $out) = drive('on_update_hook_full', [{}, undef, { 'linstor-token' => 'tok2' }]);
is(read_file("$dir/priv/storage/drbdx.linstor-token"), "tok2\n", 'on_update_hook_full');
($r, $out) = drive('on_delete_hook', []);
ok(!-e "$dir/priv/storage/drbdx.linstor-token", 'on_delete_hook');
unlike(read_file($agent->{log}), qr/tok1|tok2/, 'tokens never in requests');

# usage errors
($r, $out) = drive('no_such_method', []);
is($r->{code}, 2, 'unknown method: exit 2');
is($r->{out}, '', '... nothing on stdout');
($r, $out) = drive('status', undef);
is($r->{code}, 0, 'arguments may be omitted entirely');
$r = run_cmd([$^X, (map { "-I$_" } lib_dirs()), $driver, 'status', '{not json'], env => \%env);
is($r->{code}, 2, 'bad JSON: exit 2');
($r, $out) = drive('parse_volname', ['vm-100-disk-0', 'extra']);
is($r->{code}, 0, 'parse_volname takes the rest');

$agent->stop();
done_testing();
