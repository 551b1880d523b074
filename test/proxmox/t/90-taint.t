#!perl -T
# PVE's daemons run Perl with -T: tainted input (volnames from requests, paths from the agent's
# reply, settings from the environment) must not make the shim die with "Insecure dependency", and
# paths it returns to PVE must be untainted.
use strict;
use warnings;

BEGIN {
    # FindBin's path comes from $0 and is tainted under -T.
    require FindBin;
    my ($tlib) = "$FindBin::Bin/../tlib" =~ m/^(.*)\z/s;
    unshift @INC, $tlib;
}
use Test::More;

use Scalar::Util qw(tainted);
use LVTest qw(temp_dir read_file write_file);
use PVE::Storage;

my $class = 'PVE::Storage::Custom::LinstorVirtPlugin';
ok(${^TAINT}, 'running with -T');

# A tainted empty string to mark values as coming from outside.
my $T = substr($ENV{PATH} // '', 0, 0);
plan(skip_all => 'no tainted environment to derive from') if !tainted($T);

$ENV{PATH} = '/usr/bin:/bin';
delete @ENV{qw(IFS CDPATH ENV BASH_ENV)};

my $dir = temp_dir();
mkdir("$dir/priv");
$ENV{LINSTOR_VIRT_PVE_PRIV_DIR} = "$dir/priv$T";
$ENV{LV_PVE_NODENAME} = 'delta';

my $scfg = { type => 'linstor' };
my $volname = "vm-100-disk-0$T";
ok(tainted($volname), 'the volname is tainted');

my $path = $class->path($scfg, $volname, "lv$T", "vzdump$T");
is($path, '/dev/drbd/by-res/snap_vm-100-disk-0_vzdump/0', 'path of tainted input');
ok(!tainted($path), 'path is untainted');
my @p = $class->parse_volname($volname);
ok(!tainted($p[1]) && !tainted($p[2]), 'parse_volname returns untainted name and vmid');
{
    local $ENV{LINSTOR_VIRT_DEVICE_ROOT} = "/tmp/root$T";
    ok(!tainted(scalar($class->path($scfg, "vm-100-state-my.snap$T", 'lv'))), 'a hashed path with a deviceRoot is untainted');
    ok(!tainted(scalar($class->path($scfg, $volname, 'lv', "a.b$T"))), 'a hashed snapshot view path is untainted');
}

# Through the agent: paths in replies come from a socket (tainted) and are untainted on the way.
my $agent = LVTest::FakeAgent->start();
{
    local $ENV{LINSTOR_VIRT_AGENT_SOCKET} = $agent->socket_path() . $T;
    $agent->set_replies({ map_volume => { result => { path => "$dir/mapped" } } });
    my $mapped = eval { $class->map_volume("lv$T", $scfg, $volname, undef) };
    is($@, '', 'map_volume under -T');
    is($mapped, "$dir/mapped", '... the path');
    ok(!tainted($mapped), '... untainted');

    # import: the device path from the reply is opened for writing.
    write_file("$dir/target", "\0" x 4);
    write_file("$dir/stream", pack('Q<', 4) . 'data');
    $agent->set_replies({ volume_import_begin => { result => { volname => 'vm-100-disk-0', path => "$dir/target", handle => 'h' } } });
    open(my $in, '<', "$dir/stream") or die;
    my $volid = eval { $class->volume_import($scfg, "lv$T", $in, $volname, "raw+size$T") };
    is($@, '', 'volume_import under -T');
    is($volid, 'lv:vm-100-disk-0', '... returns the volid');
    is(read_file("$dir/target"), 'data', '... wrote the device');

    # hooks: the token file name comes from a tainted storeid.
    $agent->set_replies({});
    eval { $class->on_add_hook("lv$T", $scfg, 'linstor-token' => "secret$T") };
    is($@, '', 'on_add_hook under -T');
    is(read_file("$dir/priv/storage/lv.linstor-token"), "secret\n", '... stored the token');
    eval { $class->on_delete_hook("lv$T", $scfg) };
    is($@, '', 'on_delete_hook under -T');
    ok(!-e "$dir/priv/storage/lv.linstor-token", '... removed it');
}
$agent->stop();

# The one-shot fallback: node and CLI paths from the (tainted) environment are exec'ed.
{
    local $ENV{LINSTOR_VIRT_AGENT_SOCKET} = "$dir/none.sock$T";
    my ($perl) = $^X =~ m/^(.*)\z/s;
    local $ENV{LINSTOR_VIRT_NODE} = "$perl$T";
    my ($cli) = "$FindBin::Bin/../tlib/fake-cli.pl" =~ m/^(.*)\z/s;
    local $ENV{LINSTOR_VIRT_CLI} = "$cli$T";
    local $ENV{LV_FAKE_CLI_REPLY} = '{"v":1,"result":{"total":1,"avail":1,"used":0,"active":true}}';
    delete local $ENV{LV_FAKE_CLI_MODE};
    delete local $ENV{LV_FAKE_CLI_LOG};
    delete local $ENV{LV_FAKE_CLI_PIDFILE};
    my @status = eval { $class->status("lv$T", $scfg, {}) };
    is($@, '', 'the one-shot fallback execs under -T');
    is_deeply(\@status, [1, 1, 0, 1], '... and answers');
}

done_testing();
