# Interoperability with the real agent (dist/linstor-virt.js agent, Express on a unix socket) when
# the bundle has been built: the shim's HTTP request is accepted and the reply, whatever the
# TypeScript side answers for the operation, arrives as a result or a one-line die (with at most a detail line).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../tlib";
use Test::More;

use LVTest qw(temp_dir);
use POSIX ();
use Time::HiRes ();
use PVE::Storage;

my $class = 'PVE::Storage::Custom::LinstorVirtPlugin';
my $bundle = LVTest::repo_root() . '/dist/linstor-virt.js';
my ($node) = grep { -x $_ } map { "$_/node" } split(/:/, $ENV{PATH} // '');
plan(skip_all => 'node or dist/linstor-virt.js not available') if !$node || !-f $bundle;

my $dir = temp_dir();
my $socket = "$dir/agent.sock";
my $pid = fork();
die "fork: $!" if !defined($pid);
if (!$pid) {
    open(STDOUT, '>', "$dir/agent.out");
    open(STDERR, '>', "$dir/agent.err");
    # A controller URL nobody listens on: the calls must still answer within their deadlines.
    exec { $node } $node, $bundle, 'agent', '--socket', $socket, '--controllers', 'http://127.0.0.1:9'
        or POSIX::_exit(127);
}
my $until = Time::HiRes::time() + 15;
Time::HiRes::sleep(0.05) while !-S $socket && Time::HiRes::time() < $until && !waitpid($pid, POSIX::WNOHANG());
ok(-S $socket, 'the real agent listens') or diag(LVTest::read_file("$dir/agent.err"));

$ENV{LINSTOR_VIRT_AGENT_SOCKET} = $socket;
$ENV{LINSTOR_VIRT_CLI} = "$dir/no-such-cli.js";    # proves the answer came from the agent
$ENV{LV_PVE_NODENAME} = 'alpha';

for my $call (
    ['status', sub { [$class->status('lv', { type => 'linstor' }, {})] }],
    ['volume_size_info', sub { [scalar $class->volume_size_info({ type => 'linstor' }, 'lv', 'vm-100-disk-0')] }],
) {
    my ($name, $code) = @$call;
    my $t0 = Time::HiRes::time();
    my $r = eval { $code->() };
    my $err = $@;
    my $took = Time::HiRes::time() - $t0;
    # One line in the operator's words, and the controller's (or the transport's) text on a second.
    ok($r || $err =~ m/\A[^\n]+\n(?:[^\n]+\n)?\z/, "$name: a result or a one-line error (plus its detail line) from the real agent") or diag $err;
    unlike($err, qr/ at \S+ line \d+|no-such-cli|not a call-protocol reply|without replying|no valid HTTP/, "$name: the agent itself answered");
    ok($took < 70, "$name: within its deadline");
    note("$name: " . ($err || 'ok'));
}

kill('TERM', $pid);
waitpid($pid, 0);
done_testing();
