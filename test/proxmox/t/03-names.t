# The pure methods against test/fixtures/proxmox/volnames.json (the vectors the TypeScript side
# checks too): parse_volname, path/filesystem_path (incl. snapshot views and deviceRoot) and the
# feature matrix. None of them may call the program.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../tlib";
use Test::More;

use LVTest qw(read_file);
use PVE::Storage;

my $class = 'PVE::Storage::Custom::LinstorVirtPlugin';
my $vectors = JSON::PP->new->utf8->decode(read_file(LVTest::repo_root() . '/test/fixtures/proxmox/volnames.json'));
ok(@$vectors >= 50, scalar(@$vectors) . ' vectors');

# Any call would go here and fail loudly.
local $ENV{LINSTOR_VIRT_AGENT_SOCKET} = '/nonexistent/agent.sock';
local $ENV{LINSTOR_VIRT_CLI} = '/nonexistent/cli.js';
delete local $ENV{LINSTOR_VIRT_DEVICE_ROOT};

my $scfg = { type => 'linstor' };
my %seen_forms;
for my $v (@$vectors) {
    my $name = $v->{volname};
    my $shown = $name =~ s/\n/\\n/gr;
    if (!$v->{valid}) {
        my @r = eval { $class->parse_volname($name) };
        my $err = $@;
        ok(!@r, "invalid: '$shown'");
        like($err, qr/^linstor-virt: unable to parse volume name .*\n\z/s, "invalid: '$shown' dies with one line");
        eval { $class->path($scfg, $name, 'lv') };
        ok($@, "invalid: '$shown' has no path");
        next;
    }
    my @r = $class->parse_volname($name);
    is(scalar(@r), 7, "$shown: 7-tuple");
    is($r[0], 'images', "$shown: vtype images");
    is($r[1], $v->{name}, "$shown: name (without a linked clone's base prefix)");
    is($r[2], $v->{vmid}, "$shown: vmid");
    is($r[3], $v->{basename}, "$shown: basename");
    is($r[4], $v->{basevmid}, "$shown: basevmid");
    is(!!$r[5], !!$v->{isBase}, "$shown: isBase");
    is($r[6], 'raw', "$shown: format raw");

    my $path = "/dev/drbd/by-res/$v->{resource}/0";
    is(scalar($class->path($scfg, $name, 'lv')), $path, "$shown: path");
    is_deeply([$class->path($scfg, $name, 'lv')], [$path, $v->{vmid}, 'images'], "$shown: path in list context");
    is(scalar($class->filesystem_path($scfg, $name)), $path, "$shown: filesystem_path");
    is(scalar($class->path($scfg, $name, 'lv', '')), $path, "$shown: empty snapname is no snapshot");
    for my $s (@{ $v->{snapshots} }) {
        is(scalar($class->path($scfg, $name, 'lv', $s->{snap})), "/dev/drbd/by-res/$s->{resource}/0", "$shown\@$s->{snap}: snapshot path");
        is(scalar($class->filesystem_path($scfg, $name, $s->{snap})), "/dev/drbd/by-res/$s->{resource}/0", "$shown\@$s->{snap}: filesystem_path");
    }
    $seen_forms{ $name =~ m{/} ? 'clone' : $name =~ m/^(vm|base|subvol|pm)-/ ? $1 : 'other' }++;
}
ok($seen_forms{$_}, "the vectors cover $_ names") for qw(vm base subvol pm clone);

# Snapshot views never share a name: pairs that spelled snap_<rsc>_<snap> alike, or alike but for
# case, get different view names (the same resource names the TypeScript side computes).
{
    my %views;
    for my $v (grep { $_->{valid} } @$vectors) {
        for my $s (@{ $v->{snapshots} }) {
            my $key = lc($s->{resource});
            ok(!exists($views{$key}), "$v->{volname}\@$s->{snap}: view name $s->{resource} is not also " . ($views{$key} // ''));
            $views{$key} = "$v->{volname}\@$s->{snap}";
        }
    }
    isnt(scalar($class->path($scfg, 'vm-100-disk-0', 'lv', 'Snap1')), scalar($class->path($scfg, 'vm-100-disk-0', 'lv', 'snap1')), 'Snap1 and snap1 have different views');
    isnt(scalar($class->path($scfg, 'vm-100-disk-0_a', 'lv', 'b')), scalar($class->path($scfg, 'vm-100-disk-0', 'lv', 'a_b')), '(vm-100-disk-0_a, b) and (vm-100-disk-0, a_b) have different views');
}

# A linked clone's volname names its base, so PVE's volume_is_base_and_used sees the template in use.
{
    my @r = $class->parse_volname('base-100-disk-0/vm-101-disk-0');
    is_deeply(\@r, ['images', 'vm-101-disk-0', 101, 'base-100-disk-0', 100, 0, 'raw'], 'linked clone: name, vmid, basename, basevmid');
    is(scalar($class->path($scfg, 'base-100-disk-0/vm-101-disk-0', 'lv')), '/dev/drbd/by-res/vm-101-disk-0/0', 'linked clone: the path is its own resource');
}

# Every name form PVE allocates (reference 1.2).
for my $name (qw(vm-100-disk-0 base-100-disk-0 vm-100-cloudinit vm-100-state-snap1 vm-100-state-suspend-2024-05-01
    vm-100-fleece-0 subvol-100-disk-0 pm-1a2b3c4d_100), 'vm-9999-pvc-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b') {
    ok(scalar(grep { $_->{volname} eq $name && $_->{valid} } @$vectors), "fixture holds $name as valid");
}
ok(scalar(grep { length($_->{volname}) > 48 && $_->{valid} && $_->{resource} =~ m/^lv-[0-9a-f]{32}\z/ } @$vectors), 'fixture holds a long name hashed into lv-');
ok(scalar(grep { $_->{resource} && $_->{resource} =~ m/^lv-/ && length($_->{volname}) <= 48 } @$vectors), 'fixture holds a short name hashed for its characters');
ok(scalar(grep { $_->{resource} =~ m/^lvs-/ } map { @{ $_->{snapshots} } } @$vectors), 'fixture holds a hashed snapshot view');
for my $name ('../x', 'vm-abc-disk-0', 'vm-1-disk-0;rm', "vm-100-disk-0\n") {
    ok(scalar(grep { $_->{volname} eq $name && !$_->{valid} } @$vectors), "fixture holds '" . ($name =~ s/\n/\\n/r) . "' as invalid");
}

# deviceRoot prefixes every path (trailing slashes ignored).
{
    local $ENV{LINSTOR_VIRT_DEVICE_ROOT} = '/tmp/emu/alpha/';
    is(scalar($class->path($scfg, 'vm-100-disk-0', 'lv')), '/tmp/emu/alpha/dev/drbd/by-res/vm-100-disk-0/0', 'deviceRoot prefix');
    is(scalar($class->path($scfg, 'vm-100-disk-0', 'lv', 'vzdump')), '/tmp/emu/alpha/dev/drbd/by-res/snap_vm-100-disk-0_vzdump/0', 'deviceRoot prefix on a snapshot');
    local $ENV{LINSTOR_VIRT_DEVICE_ROOT} = 'relative';
    eval { $class->path($scfg, 'vm-100-disk-0', 'lv') };
    like($@, qr/must be an absolute path\n\z/, 'a relative deviceRoot is refused');
}

# Feature matrix: current / base / snap.
my %expect = (
    snapshot => [1, 0, 0],
    clone => [0, 1, 1],
    template => [1, 0, 0],
    copy => [1, 1, 1],
    rename => [1, 0, 0],
    sparseinit => [0, 0, 0],
    replicate => [0, 0, 0],
    'no-such-feature' => [0, 0, 0],
);
for my $f (sort keys %expect) {
    my ($cur, $base, $snap) = @{ $expect{$f} };
    is($class->volume_has_feature($scfg, $f, 'lv', 'vm-100-disk-0', undef, 0), $cur, "$f on a current volume");
    is($class->volume_has_feature($scfg, $f, 'lv', 'base-100-disk-0', undef, 0), $base, "$f on a base volume");
    is($class->volume_has_feature($scfg, $f, 'lv', 'vm-100-disk-0', 'snap1', 0), $snap, "$f on a snapshot");
    is($class->volume_has_feature($scfg, $f, 'lv', 'base-100-disk-0', 'snap1', 1), $snap, "$f on a snapshot of a base");
    is($class->volume_has_feature($scfg, $f, 'lv', 'pm-1a2b3c4d_100', undef, 1), $cur, "$f on a pm- volume");
}
eval { $class->volume_has_feature($scfg, 'copy', 'lv', '../x', undef, 0) };
like($@, qr/unable to parse volume name '\.\.\/x'\n\z/, 'volume_has_feature refuses an invalid name');

# Paths are untainted-safe: only regex captures reach them (checked under -T in 90-taint.t).
done_testing();
