# The one-shot fallback: when the agent's socket is missing or refuses, the shim runs
# `<node> <cli> call --stdin` (no shell), request on stdin, reply from stdout; a CLI that outlives
# the deadline is killed. The fake CLI is a Perl script (LINSTOR_VIRT_NODE=perl); one case runs a
# JavaScript stand-in through the real node, and one the real bundle when it has been built.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../tlib";
use Test::More;

use IO::Socket::UNIX;
use JSON::PP;
use LVTest qw(temp_dir read_file write_file);
use Socket qw(SOCK_STREAM);
use Time::HiRes ();
use PVE::Storage;

my $class = 'PVE::Storage::Custom::LinstorVirtPlugin';
my $dir = temp_dir();
my $cli = "$FindBin::Bin/../tlib/fake-cli.pl";
my $TOKEN = 'fallback-secret-token';

$ENV{LINSTOR_VIRT_AGENT_SOCKET} = "$dir/missing.sock";
$ENV{LINSTOR_VIRT_NODE} = $^X;
$ENV{LINSTOR_VIRT_CLI} = $cli;
$ENV{LV_PVE_NODENAME} = 'bravo';
$ENV{LINSTOR_VIRT_PVE_PRIV_DIR} = "$dir/priv";
$ENV{LV_FAKE_CLI_LOG} = "$dir/cli.log";
$ENV{LV_FAKE_CLI_PIDFILE} = "$dir/cli.pid";
delete $ENV{LV_FAKE_CLI_MODE};
delete $ENV{LINSTOR_VIRT_DEADLINE_SCALE};
my $scfg = { type => 'linstor', 'linstor-token' => $TOKEN, content => { images => 1 } };

sub logged {
    my @lines = grep { length } split(/\n/, -e "$dir/cli.log" ? read_file("$dir/cli.log") : '');
    return [map { JSON::PP->new->decode($_) } @lines];
}

sub alive {
    my ($pid) = @_;
    return kill(0, $pid) ? 1 : 0;
}

# Socket missing: the one-shot CLI answers.
{
    local $ENV{LV_FAKE_CLI_REPLY} = '{"v":1,"result":{"path":"/dev/drbd/by-res/vm-100-disk-0/0"}}';
    my $path = $class->map_volume('lv', $scfg, 'vm-100-disk-0');
    is($path, '/dev/drbd/by-res/vm-100-disk-0/0', 'socket missing: the one-shot call answers');
    my $req = logged()->[-1];
    is($req->{operation}, 'map_volume', 'the request went over stdin');
    is($req->{platform}, 'proxmox', '... complete');
    is($req->{config}->{node}, 'bravo', '... with config');
    is_deeply($req->{arguments}, { volname => 'vm-100-disk-0', snapname => undef }, '... and arguments');
    unlike(read_file("$dir/cli.log"), qr/\Q$TOKEN\E/, 'no token on stdin either');
    my $pid = read_file("$dir/cli.pid");
    ok(!alive($pid), 'the one-shot process is gone (reaped)');
}

# Socket file present but nobody listening (a dead agent): falls back too.
{
    my $stale = "$dir/stale.sock";
    my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $stale, Listen => 1) or die;
    close($l);
    ok(-S $stale, 'a stale socket file exists');
    local $ENV{LINSTOR_VIRT_AGENT_SOCKET} = $stale;
    local $ENV{LV_FAKE_CLI_REPLY} = '{"v":1,"result":{"total":10,"avail":5,"used":5,"active":true}}';
    is_deeply([$class->status('lv', $scfg, {})], [10, 5, 5, 1], 'connection refused: falls back to the one-shot call');
}

# A socket path that is not a socket at all (a regular file) refuses too.
{
    write_file("$dir/plain-file", '');
    local $ENV{LINSTOR_VIRT_AGENT_SOCKET} = "$dir/plain-file";
    local $ENV{LV_FAKE_CLI_REPLY} = '{"v":1,"result":{}}';
    is($class->activate_storage('lv', $scfg, {}), 1, 'a non-socket path falls back as well');
}

# Error replies from the one-shot call are dies like the agent's.
{
    local $ENV{LV_FAKE_CLI_REPLY} = '{"v":1,"error":{"code":"NOT_FOUND","message":"volume vm-100-disk-9 does not exist","details":{}}}';
    eval { $class->volume_size_info({}, 'lv', 'vm-100-disk-9') };
    is($@, "volume vm-100-disk-9 does not exist\n", 'an error reply via one-shot: die "<message>\n"');
}

# Logs on stdout before the reply and lots of stderr: the last line is the reply, stderr is drained.
{
    local $ENV{LV_FAKE_CLI_MODE} = 'noisy';
    local $ENV{LV_FAKE_CLI_REPLY} = '{"v":1,"result":{"size":4096}}';
    is(scalar($class->volume_size_info({}, 'lv', 'vm-100-disk-0')), 4096, 'reply found after log lines; a full stderr pipe does not block');
}

# No reply: one line with the exit status and the first stderr line.
{
    local $ENV{LV_FAKE_CLI_MODE} = 'garbage';
    eval { $class->status('lv', $scfg, {}) };
    is($@, "linstor-virt: the one-shot call 'status' ($^X $cli) gave no reply (exit status 1): fake-cli: something broke\n", 'garbage: one clear line');
}

# The CLI does not even read its stdin and exits: no SIGPIPE death, a clear error.
{
    local $ENV{LV_FAKE_CLI_MODE} = 'no-read';
    local $ENV{LV_FAKE_CLI_REPLY} = '{"v":1,"result":{"volname":"vm-100-disk-0"}}';
    my $big = { %$scfg, 'linstor-controllers' => 'x' x 300_000 };    # more than a pipe holds
    my $r = eval { scalar $class->alloc_image('lv', $big, 100, 'raw', undef, 1) };
    is($@, '', 'a child that stops reading does not kill us with SIGPIPE');
    is($r, 'vm-100-disk-0', '... and its reply is used');
}

# Missing node or CLI: one clear line naming what is missing.
{
    local $ENV{LINSTOR_VIRT_NODE} = "$dir/no-node";
    eval { $class->status('lv', $scfg, {}) };
    is($@, "linstor-virt: the agent socket $dir/missing.sock is not available and $dir/no-node is not executable (it comes with the nodejs package, 18.19 or later)\n", 'node missing');
    local $ENV{LINSTOR_VIRT_NODE} = 'relative/node';
    eval { $class->status('lv', $scfg, {}) };
    is($@, "linstor-virt: LINSTOR_VIRT_NODE must be an absolute path\n", 'node must be an absolute path');
}

# A hanging CLI is killed at the deadline (deadlines scaled: status 2 ms + 1000 ms grace).
for my $mode (qw(hang hang-ignore-term)) {
    local $ENV{LV_FAKE_CLI_MODE} = $mode;
    local $ENV{LINSTOR_VIRT_DEADLINE_SCALE} = '0.001';
    unlink("$dir/cli.pid");
    my $t0 = Time::HiRes::time();
    eval { $class->status('lv', $scfg, {}) };
    my $took = Time::HiRes::time() - $t0;
    is($@, "linstor-virt: the one-shot call 'status' ($cli) did not answer within 1002 ms and was stopped\n", "$mode: one clear line");
    ok($took >= 0.9 && $took < 4, "$mode: stopped after the deadline (" . sprintf('%.2f', $took) . ' s)');
    my $pid = read_file("$dir/cli.pid");
    ok(!alive($pid), "$mode: the child is gone");
    is(logged()->[-1]->{deadlineMs}, 2, "$mode: the request carried the scaled deadline");
}

# An interrupting die (like PVE's lock alarm) also stops the child.
{
    local $ENV{LV_FAKE_CLI_MODE} = 'hang';
    unlink("$dir/cli.pid");
    local $SIG{ALRM} = sub { die "got lock timeout - aborting command\n" };
    Time::HiRes::alarm(0.5);
    eval { $class->status('lv', $scfg, {}) };
    Time::HiRes::alarm(0);
    is($@, "got lock timeout - aborting command\n", 'an alarm die passes through');
    my $pid = read_file("$dir/cli.pid");
    ok(!alive($pid), '... and the child was stopped');
}

# The real node running a JavaScript stand-in: the argument list is exactly <cli> call --stdin.
my ($node) = grep { -x $_ } map { "$_/node" } split(/:/, $ENV{PATH} // '');
SKIP: {
    skip 'node not found', 3 if !$node;
    my $js = "$dir/fake-cli.js";
    write_file($js, <<'JS');
const fs = require('node:fs')
let input = ''
process.stdin.on('data', (c) => { input += c })
process.stdin.on('end', () => {
  const req = JSON.parse(input)
  fs.writeFileSync(process.env.LV_FAKE_JS_ARGS, JSON.stringify(process.argv.slice(2)))
  process.stdout.write(JSON.stringify({ v: 1, result: { volname: `vm-${req.arguments.vmid}-disk-5` } }) + '\n')
})
JS
    local $ENV{LINSTOR_VIRT_NODE} = $node;
    local $ENV{LINSTOR_VIRT_CLI} = $js;
    local $ENV{LV_FAKE_JS_ARGS} = "$dir/js-args.json";
    my $r = eval { scalar $class->alloc_image('lv', $scfg, 123, 'raw', undef, 1024) };
    is($@, '', 'node runs the one-shot script');
    is($r, 'vm-123-disk-5', '... which answers');
    is(read_file("$dir/js-args.json"), '["call","--stdin"]', '... with the arguments call --stdin');
}

# The real bundle, when built: whatever it answers arrives as a result or a one-line die.
SKIP: {
    my $bundle = LVTest::repo_root() . '/dist/linstor-virt.js';
    skip 'dist/linstor-virt.js not built', 2 if !$node || !-f $bundle;
    local $ENV{LINSTOR_VIRT_NODE} = $node;
    local $ENV{LINSTOR_VIRT_CLI} = $bundle;
    my @r = eval { $class->status('lv', { type => 'linstor' }, {}) };
    my $err = $@;
    ok(@r == 4 || $err =~ m/\A[^\n]+\n\z/, 'the real one-shot bundle answers (result or a one-line error)') or diag $err;
    unlike($err, qr/ at \S+ line \d+/, '... without a Perl stack position');
}

done_testing();
