# Storage add/update/remove hooks: check_config is forwarded with only the token's presence; the
# token is stored in <priv>/storage/<storeid>.linstor-token (mode 0600, written aside and renamed)
# and removed on delete or when an update deletes it.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../tlib";
use Test::More;

use JSON::PP;
use LVTest qw(with_fake_agent read_file write_file);
use PVE::Storage;

my $class = 'PVE::Storage::Custom::LinstorVirtPlugin';
my $T = JSON::PP::true;
my $TOKEN = 'tok-ABC-123-secret';

my ($agent, $dir) = with_fake_agent();
my $file = "$dir/priv/storage/lv.linstor-token";
# Like /etc/pve/priv on a node, the priv dir exists; the shim creates only storage/ inside it.
mkdir("$dir/priv") or die;
my $scfg = { type => 'linstor', content => { images => 1 }, 'linstor-place-count' => 2 };

sub mode_of { return (stat($_[0]))[2] & 07777 }

sub only_request {
    my $req = $agent->requests();
    is(scalar(@$req), 1, 'one request');
    unlike($req->[0]->{body}, qr/\Q$TOKEN\E/, 'the token is not in the request');
    return $req->[0]->{request};
}

# add with a token
{
    $agent->clear();
    ok(!-e "$dir/priv/storage", 'no priv/storage dir yet');
    my $r = $class->on_add_hook('lv', $scfg, 'linstor-token' => $TOKEN);
    is($r, undef, 'on_add_hook returns undef');
    my $req = only_request();
    is($req->{operation}, 'check_config', 'check_config');
    is_deeply($req->{arguments}, { hook => 'add', sensitive => { token => $T }, dropped => [] }, 'add, token present');
    is($req->{deadlineMs}, 60000, 'deadline 60000');
    is_deeply($req->{config}->{scfg}, { content => { images => 1 }, 'linstor-place-count' => 2 }, 'the section as config');
    ok(-f $file, 'the token file exists');
    is(read_file($file), "$TOKEN\n", 'it holds the token');
    is(mode_of($file), 0600, 'mode 0600');
    is(mode_of("$dir/priv/storage"), 0700, 'the storage dir was created 0700');
    opendir(my $dh, "$dir/priv/storage");
    is_deeply([sort grep { !m/^\./ } readdir($dh)], ['lv.linstor-token'], 'no temp file left behind');
}

# a later call carries tokenFile
{
    $agent->clear();
    $class->activate_storage('lv', $scfg, {});
    my $req = only_request();
    is($req->{config}->{tokenFile}, $file, 'later requests name the token file');
}

# add without a token, rejected by the program: no file written
{
    $agent->clear();
    $agent->set_replies({ check_config => { error => { code => 'CONFIG_INVALID', message => 'storage lv2: linstor-place-count: must be a whole number from 1 to 16' } } });
    eval { $class->on_add_hook('lv2', $scfg, 'linstor-token' => 'other') };
    is($@, "storage lv2: linstor-place-count: must be a whole number from 1 to 16\n", 'a rejected add dies with the message');
    ok(!-e "$dir/priv/storage/lv2.linstor-token", 'and stores no token');
    $agent->set_replies({});
    $agent->clear();
    $class->on_add_hook('lv3', $scfg);
    my $req = only_request();
    is_deeply($req->{arguments}, { hook => 'add', sensitive => {}, dropped => [] }, 'add without a token: sensitive is empty');
    ok(!-e "$dir/priv/storage/lv3.linstor-token", 'no token file');
}

# add on PVE without sensitive-properties: the token comes inside the section
{
    $agent->clear();
    $class->on_add_hook('lv4', { %$scfg, 'linstor-token' => $TOKEN });
    my $req = only_request();
    is_deeply($req->{arguments}, { hook => 'add', sensitive => { token => $T }, dropped => [] }, 'legacy: token present');
    ok(!exists($req->{config}->{scfg}->{'linstor-token'}), 'legacy: not sent in scfg');
    is(read_file("$dir/priv/storage/lv4.linstor-token"), "$TOKEN\n", 'legacy: stored');
}

# update (API < 13) with a new token, then deleting it
{
    $agent->clear();
    $class->on_update_hook('lv', { 'linstor-status-cache' => 30 }, 'linstor-token' => 'new-token');
    my $req = only_request();
    is_deeply($req->{arguments}, { hook => 'update', sensitive => { token => $T }, dropped => [] }, 'update with a token');
    is_deeply($req->{config}->{scfg}, { 'linstor-status-cache' => 30 }, 'API < 13: the options being set');
    is(read_file($file), "new-token\n", 'token replaced');
    is(mode_of($file), 0600, 'still 0600');

    $agent->clear();
    $class->on_update_hook('lv', { 'linstor-status-cache' => 31 });
    is_deeply(only_request()->{arguments}, { hook => 'update', sensitive => {}, dropped => [] }, 'update without token change');
    ok(-e $file, 'token kept');

    $agent->clear();
    $class->on_update_hook('lv', {}, 'linstor-token' => undef);
    is_deeply(only_request()->{arguments}, { hook => 'update', sensitive => {}, dropped => [] }, 'update deleting the token');
    ok(!-e $file, 'token removed (undef sensitive value means deleted)');
}

# update_full (API 13+)
{
    $class->on_update_hook('lv', {}, 'linstor-token' => $TOKEN);
    $agent->clear();
    my $current = { type => 'linstor', 'linstor-place-count' => 2, 'linstor-prefer-local' => 1, content => { images => 1 } };
    $class->on_update_hook_full('lv', $current, { 'linstor-place-count' => 3 }, ['linstor-prefer-local'], {});
    my $req = only_request();
    is_deeply($req->{arguments}, { hook => 'update', sensitive => {}, dropped => [] }, 'update_full without token change');
    is_deeply($req->{config}->{scfg}, { 'linstor-place-count' => 3, content => { images => 1 } }, 'update_full: the section as it will be');
    is($current->{'linstor-prefer-local'}, 1, 'the caller\'s section is not modified');
    ok(-e $file, 'token kept');

    $agent->clear();
    $class->on_update_hook_full('lv', $current, {}, undef, { 'linstor-token' => 'full-token' });
    is_deeply(only_request()->{arguments}, { hook => 'update', sensitive => { token => $T }, dropped => [] }, 'update_full with a token');
    is(read_file($file), "full-token\n", 'token replaced');

    $agent->clear();
    $class->on_update_hook_full('lv', $current, {}, ['linstor-token'], { 'linstor-token' => undef });
    only_request();
    ok(!-e $file, 'update_full deleting linstor-token removes the file');

    $class->on_update_hook('lv', {}, 'linstor-token' => $TOKEN);
    $class->on_update_hook_full('lv', $current, {}, ['linstor-token'], {});
    ok(!-e $file, '... also when only the delete list names it');
}

# update rejected: the token stays as it was
{
    $class->on_update_hook('lv', {}, 'linstor-token' => $TOKEN);
    $agent->set_replies({ check_config => { error => { code => 'CONFIG_INVALID', message => 'bad' } } });
    eval { $class->on_update_hook_full('lv', $scfg, {}, undef, { 'linstor-token' => 'rejected' }) };
    is($@, "bad\n", 'a rejected update dies');
    is(read_file($file), "$TOKEN\n", 'and keeps the old token');
    $agent->set_replies({});
}

# delete
{
    $agent->clear();
    is($class->on_delete_hook('lv', $scfg), undef, 'on_delete_hook returns undef');
    is_deeply(only_request()->{arguments}, { hook => 'delete', sensitive => {} }, 'delete is forwarded');
    ok(!-e $file, 'the token file is removed');
    $agent->clear();
    $class->on_delete_hook('lv', $scfg);
    ok(1, 'deleting again (no token file) is fine');

    # The program refuses: nothing removed.
    $class->on_update_hook('lv', {}, 'linstor-token' => $TOKEN);
    $agent->set_replies({ check_config => { error => { code => 'X', message => 'storage still in use' } } });
    eval { $class->on_delete_hook('lv', $scfg) };
    is($@, "storage still in use\n", 'an error reply stops the removal');
    ok(-e $file, 'and keeps the token');
    $agent->set_replies({});

    # No program reachable at all: warn, remove anyway.
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, @_ };
    local $ENV{LINSTOR_VIRT_AGENT_SOCKET} = "$dir/none.sock";
    $class->on_delete_hook('lv', $scfg);
    ok(!-e $file, 'without any program the storage is still removable');
    like(join('', @warnings), qr/^linstor-virt: could not check the removal of storage 'lv' \(linstor-virt: the agent socket .* not available.*\); removing it anyway\n\z/, 'with one warning');
}

# Warnings from the program (keys nobody reads) are printed, one line each, and do not stop the change.
{
    $agent->clear();
    $agent->set_replies({ check_config => { result => { warnings => ["storage lv: linstor-resouce-group is not an option; did you mean linstor-resource-group?"] } } });
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, @_ };
    my $r = $class->on_update_hook_full('lv', $scfg, { 'linstor-place-count' => 3 }, undef, {});
    is($r, undef, 'the update goes ahead');
    is_deeply(\@warnings, ["linstor-virt: WARNING: storage lv: linstor-resouce-group is not an option; did you mean linstor-resource-group?\n"], 'the warning is printed');
    $agent->set_replies({});
}

# The token never appears in any request of this file.
unlike(read_file("$agent->{log}"), qr/\Q$TOKEN\E|full-token|new-token/, 'no token in the request log');

$agent->stop();
done_testing();
