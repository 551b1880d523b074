# Every forwarded method against a fake agent: the request (operation, arguments, config, deadline,
# HTTP framing, never the token) and the mapping of the reply (results, errors as one-line dies).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../tlib";
use Test::More;

use JSON::PP;
use LVTest qw(with_fake_agent write_file);
use PVE::Storage;

my $class = 'PVE::Storage::Custom::LinstorVirtPlugin';
my $T = JSON::PP::true;
my $F = JSON::PP::false;
my $TOKEN = 'SECRET-TOKEN-4711';

my ($agent, $dir) = with_fake_agent();
$ENV{LINSTOR_VIRT_NODE} = $^X;
delete $ENV{LINSTOR_VIRT_DEVICE_ROOT};
delete $ENV{LINSTOR_VIRT_DEADLINE_SCALE};

my $cfg = PVE::Storage::Plugin->parse_config('storage.cfg', <<"CFG");
linstor: lv
	content images,rootdir
	linstor-controllers linstor://ctrl-a
	linstor-place-count 3
	linstor-prefer-local 0
	linstor-storage-pools ssd,nvme
	linstor-token $TOKEN

CFG
my $scfg = $cfg->{ids}->{lv};
is($scfg->{'linstor-token'}, $TOKEN, 'the section carries a token (as on PVE without sensitive-properties)');

my $expected_scfg = {
    content => { images => 1, rootdir => 1 },
    'linstor-controllers' => 'linstor://ctrl-a',
    'linstor-place-count' => 3,
    'linstor-prefer-local' => 0,
    'linstor-storage-pools' => 'ssd,nvme',
    shared => 1,
};

# Runs one call against canned replies; returns (result list or die text, request).
sub run_call {
    my ($code, $replies) = @_;
    $agent->clear();
    $agent->set_replies($replies // {});
    my @result = eval { $code->() };
    my $err = $@;
    my $requests = $agent->requests();
    return ($err, \@result, $requests);
}

sub check_request {
    my ($name, $entry, $op, $arguments, $deadline) = @_;
    my $req = $entry->{request};
    is($entry->{method}, 'POST', "$name: POST");
    is($entry->{path}, '/v1/call', "$name: /v1/call");
    like($entry->{head}, qr/^Connection: close\r?$/mi, "$name: Connection: close");
    like($entry->{head}, qr/^Content-Length: ${\ length($entry->{body})}\r?$/mi, "$name: Content-Length");
    is($req->{v}, 1, "$name: v 1");
    is($req->{platform}, 'proxmox', "$name: platform proxmox");
    is($req->{operation}, $op, "$name: operation $op");
    is($req->{deadlineMs}, $deadline, "$name: deadline $deadline ms");
    is_deeply($req->{arguments}, $arguments, "$name: arguments") or diag explain $req->{arguments};
    is_deeply([sort keys %$req], [qw(arguments config deadlineMs operation platform v)], "$name: no other request fields");
    is($req->{config}->{storeid}, 'lv', "$name: config.storeid");
    is($req->{config}->{node}, 'alpha', "$name: config.node");
    unlike($entry->{body}, qr/\Q$TOKEN\E/, "$name: the token never travels");
    ok(!exists($req->{config}->{scfg}->{type}), "$name: no type in scfg");
}

my @cases = (
    {
        name => 'activate_storage',
        call => sub { $class->activate_storage('lv', $scfg, {}) },
        op => 'activate_storage', args => {}, deadline => 2000,
        reply => { result => {} }, want => [1],
    },
    {
        name => 'status (active)',
        call => sub { $class->status('lv', $scfg, {}) },
        op => 'status', args => {}, deadline => 2000,
        reply => { result => { total => 1_099_511_627_776, avail => 600, used => 400, active => $T } },
        want => [1_099_511_627_776, 600, 400, 1],
    },
    {
        name => 'status (inactive)',
        call => sub { $class->status('lv', $scfg, {}) },
        op => 'status', args => {}, deadline => 2000,
        reply => { result => { total => 0, avail => 0, used => 0, active => $F } },
        want => [0, 0, 0, 0],
    },
    {
        name => 'alloc_image (PVE picks the name)',
        call => sub { scalar $class->alloc_image('lv', $scfg, '100', 'raw', undef, 4194304) },
        op => 'alloc_image', args => { vmid => 100, fmt => 'raw', name => undef, sizeKib => 4194304 }, deadline => 45000,
        reply => { result => { volname => 'vm-100-disk-0' } }, want => ['vm-100-disk-0'],
    },
    {
        name => 'alloc_image (an empty name is no name)',
        call => sub { scalar $class->alloc_image('lv', $scfg, 100, 'raw', '', 1024) },
        op => 'alloc_image', args => { vmid => 100, fmt => 'raw', name => undef, sizeKib => 1024 }, deadline => 45000,
        reply => { result => { volname => 'vm-100-disk-1' } }, want => ['vm-100-disk-1'],
    },
    {
        name => 'alloc_image (explicit name)',
        call => sub { scalar $class->alloc_image('lv', $scfg, 100, 'raw', 'vm-100-cloudinit', 4096) },
        op => 'alloc_image', args => { vmid => 100, fmt => 'raw', name => 'vm-100-cloudinit', sizeKib => 4096 }, deadline => 45000,
        reply => { result => { volname => 'vm-100-cloudinit' } }, want => ['vm-100-cloudinit'],
    },
    {
        name => 'free_image',
        call => sub { scalar $class->free_image('lv', $scfg, 'base-100-disk-0', 1, 'raw') },
        op => 'free_image', args => { volname => 'base-100-disk-0', isBase => $T }, deadline => 45000,
        reply => { result => {} }, want => [undef],
    },
    {
        name => 'list_images',
        call => sub { scalar $class->list_images('lv', $scfg, 100, ['lv:vm-100-disk-0'], {}) },
        op => 'list_images', args => { vmid => 100, vollist => ['lv:vm-100-disk-0'] }, deadline => 60000,
        reply => { result => [{ volid => 'lv:vm-100-disk-0', format => 'raw', size => 1024, vmid => 100, ctime => 5 }] },
        want => [[{ volid => 'lv:vm-100-disk-0', format => 'raw', size => 1024, vmid => 100, ctime => 5 }]],
    },
    {
        name => 'list_images (all)',
        call => sub { scalar $class->list_images('lv', $scfg, undef, undef, {}) },
        op => 'list_images', args => { vmid => undef, vollist => undef }, deadline => 60000,
        reply => { result => [] }, want => [[]],
    },
    {
        name => 'activate_volume',
        call => sub { $class->activate_volume('lv', $scfg, 'vm-100-disk-0', undef, {}, { 'guest-is-windows' => 1 }) },
        op => 'activate_volume', args => { volname => 'vm-100-disk-0', snapname => undef, hints => { 'guest-is-windows' => 1 } }, deadline => 60000,
        reply => { result => { path => '/dev/drbd/by-res/vm-100-disk-0/0' } }, want => [1],
    },
    {
        name => 'activate_volume (snapshot, no hints)',
        call => sub { $class->activate_volume('lv', $scfg, 'vm-100-disk-0', 'vzdump', {}) },
        op => 'activate_volume', args => { volname => 'vm-100-disk-0', snapname => 'vzdump', hints => undef }, deadline => 60000,
        reply => { result => { path => '/dev/drbd/by-res/snap_vm-100-disk-0_vzdump/0' } }, want => [1],
    },
    {
        name => 'deactivate_volume',
        call => sub { $class->deactivate_volume('lv', $scfg, 'vm-100-disk-0', 'vzdump', {}) },
        op => 'deactivate_volume', args => { volname => 'vm-100-disk-0', snapname => 'vzdump' }, deadline => 60000,
        reply => { result => {} }, want => [1],
    },
    {
        name => 'map_volume',
        call => sub { scalar $class->map_volume('lv', $scfg, 'vm-100-disk-0', 'vzdump') },
        op => 'map_volume', args => { volname => 'vm-100-disk-0', snapname => 'vzdump' }, deadline => 60000,
        reply => { result => { path => '/dev/drbd/by-res/snap_vm-100-disk-0_vzdump/0' } },
        want => ['/dev/drbd/by-res/snap_vm-100-disk-0_vzdump/0'],
    },
    {
        name => 'unmap_volume',
        call => sub { $class->unmap_volume('lv', $scfg, 'vm-100-disk-0', undef) },
        op => 'unmap_volume', args => { volname => 'vm-100-disk-0', snapname => undef }, deadline => 60000,
        reply => { result => {} }, want => [1],
    },
    {
        name => 'volume_size_info (scalar)',
        call => sub { scalar $class->volume_size_info($scfg, 'lv', 'vm-100-disk-0', 5) },
        op => 'volume_size_info', args => { volname => 'vm-100-disk-0' }, deadline => 60000,
        reply => { result => { size => 4294967296 } }, want => [4294967296],
    },
    {
        name => 'volume_size_info (list)',
        call => sub { $class->volume_size_info($scfg, 'lv', 'vm-100-disk-0', 5) },
        op => 'volume_size_info', args => { volname => 'vm-100-disk-0' }, deadline => 60000,
        reply => { result => { size => 4294967296 } }, want => [4294967296, 'raw', 0, undef],
    },
    {
        name => 'volume_size_info (list, used reported)',
        call => sub { $class->volume_size_info($scfg, 'lv', 'vm-100-disk-0', 5) },
        op => 'volume_size_info', args => { volname => 'vm-100-disk-0' }, deadline => 60000,
        reply => { result => { size => 4294967296, used => 1024 } }, want => [4294967296, 'raw', 1024, undef],
    },
    {
        name => 'volume_resize',
        call => sub { $class->volume_resize($scfg, 'lv', 'vm-100-disk-0', 8589934592, 1) },
        op => 'volume_resize', args => { volname => 'vm-100-disk-0', sizeBytes => 8589934592, running => $T }, deadline => 60000,
        reply => { result => {} }, want => [1],
    },
    {
        name => 'volume_snapshot',
        call => sub { $class->volume_snapshot($scfg, 'lv', 'vm-100-disk-0', 'snap1') },
        op => 'volume_snapshot', args => { volname => 'vm-100-disk-0', snap => 'snap1' }, deadline => 60000,
        reply => { result => {} }, want => [1],
    },
    {
        name => 'volume_snapshot_delete',
        call => sub { $class->volume_snapshot_delete($scfg, 'lv', 'vm-100-disk-0', 'snap1', 0) },
        op => 'volume_snapshot_delete', args => { volname => 'vm-100-disk-0', snap => 'snap1', running => $F }, deadline => 60000,
        reply => { result => {} }, want => [1],
    },
    {
        name => 'volume_rollback_is_possible (yes)',
        call => sub { $class->volume_rollback_is_possible($scfg, 'lv', 'vm-100-disk-0', 'snap2', []) },
        op => 'volume_rollback_is_possible', args => { volname => 'vm-100-disk-0', snap => 'snap2' }, deadline => 60000,
        reply => { result => { possible => $T, blockers => [] } }, want => [1],
    },
    {
        name => 'volume_snapshot_rollback',
        call => sub { $class->volume_snapshot_rollback($scfg, 'lv', 'vm-100-disk-0', 'snap2') },
        op => 'volume_snapshot_rollback', args => { volname => 'vm-100-disk-0', snap => 'snap2' }, deadline => 60000,
        reply => { result => {} }, want => [1],
    },
    {
        name => 'volume_snapshot_info',
        call => sub { scalar $class->volume_snapshot_info($scfg, 'lv', 'vm-100-disk-0') },
        op => 'volume_snapshot_info', args => { volname => 'vm-100-disk-0' }, deadline => 60000,
        reply => { result => { snap1 => { id => 1, timestamp => 1700000000 }, snap2 => { id => 2, timestamp => 1700000100 } } },
        want => [{ snap1 => { id => 1, timestamp => 1700000000 }, snap2 => { id => 2, timestamp => 1700000100 } }],
    },
    {
        name => 'clone_image (linked clone of a base)',
        call => sub { scalar $class->clone_image($scfg, 'lv', 'base-100-disk-0', 101, undef) },
        op => 'clone_image', args => { volname => 'base-100-disk-0', vmid => 101, snap => undef }, deadline => 50000,
        reply => { result => { volname => 'vm-101-disk-0' } }, want => ['vm-101-disk-0'],
    },
    {
        name => 'clone_image (from a snapshot)',
        call => sub { scalar $class->clone_image($scfg, 'lv', 'vm-100-disk-0', '102', 'snap1') },
        op => 'clone_image', args => { volname => 'vm-100-disk-0', vmid => 102, snap => 'snap1' }, deadline => 50000,
        reply => { result => { volname => 'vm-102-disk-1' } }, want => ['vm-102-disk-1'],
    },
    {
        name => 'create_base',
        call => sub { scalar $class->create_base('lv', $scfg, 'vm-100-disk-0') },
        op => 'create_base', args => { volname => 'vm-100-disk-0' }, deadline => 50000,
        reply => { result => { volname => 'base-100-disk-0' } }, want => ['base-100-disk-0'],
    },
    {
        name => 'rename_volume',
        call => sub { scalar $class->rename_volume($scfg, 'lv', 'vm-100-disk-0', 101, undef) },
        op => 'rename_volume', args => { volname => 'vm-100-disk-0', targetVmid => 101, targetVolname => undef }, deadline => 50000,
        reply => { result => { volname => 'vm-101-disk-3' } }, want => ['lv:vm-101-disk-3'],
    },
    {
        name => 'rename_volume (target name given)',
        call => sub { scalar $class->rename_volume($scfg, 'lv', 'pm-1a2b3c4d_100', 101, 'vm-101-disk-7') },
        op => 'rename_volume', args => { volname => 'pm-1a2b3c4d_100', targetVmid => 101, targetVolname => 'vm-101-disk-7' }, deadline => 50000,
        reply => { result => { volname => 'vm-101-disk-7' } }, want => ['lv:vm-101-disk-7'],
    },
);

for my $c (@cases) {
    my ($err, $result, $requests) = run_call($c->{call}, { $c->{op} => $c->{reply} });
    is($err, '', "$c->{name}: no error");
    is(scalar(@$requests), 1, "$c->{name}: exactly one request");
    check_request($c->{name}, $requests->[0], $c->{op}, $c->{args}, $c->{deadline}) if @$requests;
    is_deeply($result, $c->{want}, "$c->{name}: result") or diag explain $result;
}

# config: the section minus type and token, with JSON types by meaning; tokenFile and deviceRoot
# only when present.
{
    my (undef, undef, $requests) = run_call(sub { $class->status('lv', $scfg, {}) }, { status => { result => { total => 1, avail => 1, used => 0, active => $T } } });
    my $config = $requests->[0]->{request}->{config};
    is_deeply($config, { storeid => 'lv', node => 'alpha', scfg => $expected_scfg }, 'config without token file or deviceRoot')
        or diag explain $config;
    like($requests->[0]->{body}, qr/"linstor-place-count":3[,}]/, 'integers travel as JSON numbers');
    like($requests->[0]->{body}, qr/"linstor-prefer-local":0[,}]/, 'booleans travel as 0/1 numbers');
    like($requests->[0]->{body}, qr/"content":\{"images":1,"rootdir":1\}/, 'content travels as the parsed hash');

    mkdir("$dir/priv");
    mkdir("$dir/priv/storage");
    write_file("$dir/priv/storage/lv.linstor-token", "$TOKEN\n", 0600);
    local $ENV{LINSTOR_VIRT_DEVICE_ROOT} = '/tmp/emu/alpha';
    (undef, undef, $requests) = run_call(sub { $class->activate_storage('lv', $scfg, {}) });
    $config = $requests->[0]->{request}->{config};
    is($config->{tokenFile}, "$dir/priv/storage/lv.linstor-token", 'tokenFile when the file exists');
    is($config->{deviceRoot}, '/tmp/emu/alpha', 'deviceRoot from LINSTOR_VIRT_DEVICE_ROOT');
    unlike($requests->[0]->{body}, qr/\Q$TOKEN\E/, 'still no token in the request');
    unlink("$dir/priv/storage/lv.linstor-token");
}

# Agent socket: storage.cfg first, then the environment, then the default.
{
    local $ENV{LINSTOR_VIRT_AGENT_SOCKET} = "$dir/elsewhere.sock";
    my ($err, $result) = run_call(sub { $class->activate_storage('lv', { %$scfg, 'linstor-agent-socket' => $agent->socket_path() }, {}) });
    is($err, '', 'linstor-agent-socket from storage.cfg wins over the environment');
    ($err) = run_call(sub { $class->activate_storage('lv', $scfg, {}) });
    like($err, qr{^linstor-virt: the agent socket \Q$dir\E/elsewhere\.sock is not available and the one-shot CLI \Q$dir\E/no-such-cli\.js does not exist\n\z},
        'the environment socket is used (missing: falls back to a missing CLI, one clear line)');
    delete local $ENV{LINSTOR_VIRT_AGENT_SOCKET};
    ($err) = run_call(sub { $class->activate_storage('lv', $scfg, {}) });
    like($err, qr{/run/linstor-virt/agent\.sock}, 'the default socket is /run/linstor-virt/agent.sock');
}

# Error replies: die "<message>\n", nothing else.
{
    my ($err) = run_call(sub { $class->status('lv', $scfg, {}) }, { status => { error => { code => 'CONTROLLER_UNREACHABLE', message => 'no LINSTOR controller answered', details => {} } } });
    is($err, "no LINSTOR controller answered\n", 'an error reply is die "<message>\n", no stack trace, no line number');
    ($err) = run_call(sub { $class->alloc_image('lv', $scfg, 100, 'raw', undef, 1024) }, { alloc_image => { error => { code => 'X', message => "two\nlines\n" } } });
    is($err, "two\nlines\n", 'a message ending in a newline is not doubled');
    ($err) = run_call(sub { $class->free_image('lv', $scfg, 'vm-100-disk-0', 0) }, { free_image => { error => { code => 'X', message => "gr\x{fc}\x{df}e \x{2713}" } } });
    is($err, "gr\xc3\xbc\xc3\x9fe \xe2\x9c\x93\n", 'non-ASCII messages die as UTF-8 bytes');
    ($err) = run_call(sub { $class->free_image('lv', $scfg, 'vm-100-disk-0', 0) }, { free_image => { error => { code => 'X' } } });
    is($err, "linstor-virt: 'free_image' failed\n", 'an error without message still says what failed');
    ($err) = run_call(sub { $class->alloc_image('lv', $scfg, 100, 'raw', undef, 1024) }, { alloc_image => { result => { volname => '../etc' } } });
    is($err, "linstor-virt: the reply to 'alloc_image' names no valid volume\n", 'an invalid volname in a reply is refused');
    ($err) = run_call(sub { $class->map_volume('lv', $scfg, 'vm-100-disk-0') }, { map_volume => { result => { path => 'relative/dev' } } });
    is($err, "linstor-virt: the reply to 'map_volume' has no absolute device path\n", 'a relative device path in a reply is refused');
    ($err) = run_call(sub { $class->list_images('lv', $scfg) }, { list_images => { result => {} } });
    is($err, "linstor-virt: the reply to 'list_images' is not a list\n", 'list_images needs a list');
    ($err) = run_call(sub { $class->status('lv', $scfg) }, { status => { nothing => 1 } });
    is($err, "linstor-virt: the reply to 'status' has neither result nor error\n", 'a reply with neither result nor error');
}

# Rollback blockers: pushed onto the caller's array, then a die with the message.
{
    my @blockers = ('already-there');
    my ($err, undef, $requests) = run_call(sub { $class->volume_rollback_is_possible($scfg, 'lv', 'vm-100-disk-0', 'snap1', \@blockers) },
        { volume_rollback_is_possible => { result => { possible => $F, blockers => ['snap2', 'snap3'], message => "can't rollback, 'snap1' is not the most recent snapshot" } } });
    is($err, "can't rollback, 'snap1' is not the most recent snapshot\n", 'not possible: die with the message');
    is_deeply(\@blockers, ['already-there', 'snap2', 'snap3'], 'blockers pushed onto the caller\'s array');
    ($err) = run_call(sub { $class->volume_rollback_is_possible($scfg, 'lv', 'vm-100-disk-0', 'snap1') },
        { volume_rollback_is_possible => { result => { possible => $F, blockers => ['snap2'] } } });
    is($err, "can't rollback 'vm-100-disk-0' to snapshot 'snap1': newer snapshots exist: snap2\n", 'without a message (and without a blockers array) a clear default');
}

# Refused before any request: invalid names, snapshot resize, unsupported stream formats.
{
    for my $c (
        [sub { $class->free_image('lv', $scfg, '../x', 0) }, qr/^linstor-virt: unable to parse volume name '\.\.\/x'\n\z/, 'free_image of ../x'],
        [sub { $class->activate_volume('lv', $scfg, 'vm-1-disk-0;rm', undef, {}) }, qr/unable to parse volume name/, 'activate_volume of a bad name'],
        [sub { $class->volume_resize($scfg, 'lv', 'vm-100-disk-0', 1024, 0, 'snap1') }, qr/^linstor-virt: resizing a snapshot is not supported\n\z/, 'resize of a snapshot'],
        [sub { $class->volume_export($scfg, 'lv', \*STDOUT, 'vm-100-disk-0', 'qcow2+size') }, qr/^linstor-virt: export format 'qcow2\+size' is not supported \(only raw\+size\)\n\z/, 'export as qcow2+size'],
        [sub { $class->volume_export($scfg, 'lv', \*STDOUT, 'vm-100-disk-0', 'raw+size', undef, 'base1') }, qr/incremental export/, 'incremental export'],
        [sub { $class->volume_import($scfg, 'lv', \*STDIN, 'vm-100-disk-0', 'raw+size', 'snap1') }, qr/importing a snapshot is not supported/, 'import of a snapshot'],
        [sub { $class->volume_import($scfg, 'lv', \*STDIN, 'vm-100-disk-0', 'raw+size', undef, undef, 1) }, qr/import with snapshots is not supported/, 'import with snapshots'],
    ) {
        my ($err, undef, $requests) = run_call($c->[0]);
        like($err, $c->[1], "$c->[2] is refused");
        is(scalar(@$requests), 0, "$c->[2]: no request");
    }
}

# Stream formats are answered in Perl.
{
    $agent->clear();
    is_deeply([$class->volume_export_formats($scfg, 'lv', 'vm-100-disk-0', undef, undef, 0)], ['raw+size'], 'export formats: raw+size');
    is_deeply([$class->volume_import_formats($scfg, 'lv', 'vm-100-disk-0', undef, undef, 0)], ['raw+size'], 'import formats: raw+size');
    is_deeply([$class->volume_export_formats($scfg, 'lv', 'vm-100-disk-0', undef, undef, [])], ['raw+size'], 'an empty snapshot list is no snapshots');
    is_deeply([$class->volume_export_formats($scfg, 'lv', 'vm-100-disk-0', 'snap1', undef, 0)], [], 'none with a snapshot');
    is_deeply([$class->volume_import_formats($scfg, 'lv', 'vm-100-disk-0', undef, 'base', 0)], [], 'none with a base snapshot');
    is_deeply([$class->volume_export_formats($scfg, 'lv', 'vm-100-disk-0', undef, undef, 1)], [], 'none with snapshots');
    is_deeply([$class->volume_import_formats($scfg, 'lv', 'vm-100-disk-0', undef, undef, ['a'])], [], 'none with a snapshot list');
    is(scalar(@{ $agent->requests() }), 0, 'no request for the format lists');
}

# HTTP framing variants.
{
    my ($err, $result) = run_call(sub { scalar $class->map_volume('lv', $scfg, 'vm-100-disk-0') },
        { map_volume => { result => { path => '/dev/drbd/by-res/vm-100-disk-0/0' }, _chunked => 1 } });
    is_deeply([$err, @$result], ['', '/dev/drbd/by-res/vm-100-disk-0/0'], 'a chunked reply is understood');
    ($err) = run_call(sub { $class->status('lv', $scfg) }, { status => { _status => 413, error => { code => 'CALL_INVALID', message => 'the request is larger than 1048576 bytes' } } });
    is($err, "the request is larger than 1048576 bytes\n", 'an HTTP error status with a protocol reply is that error');
    ($err) = run_call(sub { $class->status('lv', $scfg) }, { status => { _mode => 'raw', _raw => "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\noops!" } });
    is($err, "linstor-virt: the agent at ${\ $agent->socket_path()} answered 'status' with HTTP 502 and no call-protocol reply\n", 'a non-protocol reply is one clear line');
    ($err) = run_call(sub { $class->status('lv', $scfg) }, { status => { _mode => 'close' } });
    is($err, "linstor-virt: the agent at ${\ $agent->socket_path()} closed the connection without replying to 'status'\n", 'a closed connection is one clear line (no fallback: the agent was there)');
    ($err) = run_call(sub { $class->status('lv', $scfg) }, { status => { _mode => 'raw', _raw => "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"v\":1" } });
    like($err, qr/^linstor-virt: the reply of the agent at .* to 'status' was cut short\n\z/, 'a short body is one clear line');
}

# A hanging agent: the call gives up at deadlineMs + 1000 ms (deadlines scaled down for the test).
{
    local $ENV{LINSTOR_VIRT_DEADLINE_SCALE} = '0.001';
    my $t0 = time();
    my ($err, undef, $requests) = run_call(sub { $class->status('lv', $scfg) }, { status => { _mode => 'hang' } });
    my $took = time() - $t0;
    is($err, "linstor-virt: no reply from the agent at ${\ $agent->socket_path()} to 'status' within 1002 ms\n", 'a hanging agent: one clear line');
    is($requests->[0]->{request}->{deadlineMs}, 2, 'the scaled deadline is what the request carries');
    ok($took <= 4, "gave up in time ($took s)");
    ($err, undef, $requests) = run_call(sub { $class->alloc_image('lv', $scfg, 100, 'raw', undef, 1) }, {});
    is($requests->[0]->{request}->{deadlineMs}, 45, 'scaled alloc_image deadline');
}

$agent->stop();
done_testing();
