# Loading and registration through the same checks as PVE's loader (stand-in PVE::Storage), side
# by side with the built-in plugins and linstor-proxmox's `drbd` type; and proof that the
# stand-ins enforce the unified-mode rules, so passing them means something.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../tlib";
use Test::More;

use LVTest qw(run_perl);

my @warnings;
BEGIN { $SIG{__WARN__} = sub { push @warnings, @_ } }

use PVE::Storage;

my $class = 'PVE::Storage::Custom::LinstorVirtPlugin';

ok($class->isa('PVE::Storage::Plugin'), 'derives from PVE::Storage::Plugin');
is($class->api(), 15, 'api() is 15 on APIVER 15 / APIAGE 6');
is($PVE::Storage::CUSTOM_PLUGINS{linstor}, $class, 'the loader registered type linstor');
is($PVE::Storage::CUSTOM_PLUGINS{drbd}, 'PVE::Storage::Custom::LINSTORPlugin', 'linstor-proxmox (drbd) loaded beside it');
is(PVE::Storage::Plugin->lookup('linstor'), $class, 'lookup finds the plugin after init');
ok(!grep({ m/LinstorVirtPlugin/ } @PVE::Storage::LOAD_WARNINGS), 'no load warning about our plugin')
    or diag explain \@PVE::Storage::LOAD_WARNINGS;
is_deeply(PVE::Storage::Plugin->lookup_types(), [qw(dir drbd linstor lvm lvmthin nfs pbs rbd zfspool)], 'all types registered');

is(scalar(grep { $_ eq 'linstor' } @PVE::Storage::Plugin::SHARED_STORAGE), 1, 'linstor is in @SHARED_STORAGE once');
{
    # Loading the file again (a second `require` of a fresh copy) must not add it twice.
    my $file = $INC{'PVE/Storage/Custom/LinstorVirtPlugin.pm'};
    no warnings 'redefine';
    do $file or die $@;
    is(scalar(grep { $_ eq 'linstor' } @PVE::Storage::Plugin::SHARED_STORAGE), 1, 'reloading does not duplicate it');
}

my $props = $class->properties();
my $opts = $class->options();
my @own = sort keys %$props;
is_deeply(\@own, [sort qw(linstor-controllers linstor-resource-group linstor-place-count linstor-storage-pools
    linstor-replicas-on-different linstor-prefer-local linstor-status-cache linstor-exact-size linstor-ca
    linstor-cert linstor-key linstor-token linstor-controller-vms linstor-agent-socket linstor-node-map
    linstor-search-domain)], 'the property names');
ok(!grep({ !m/^linstor-/ } @own), 'every own property is prefixed linstor-');
for my $p (@own) {
    ok(length($props->{$p}->{description} // '') > 20, "$p has a description");
    ok($opts->{$p} && $opts->{$p}->{optional}, "$p is an optional option");
}
is_deeply([sort grep { !m/^linstor-/ } keys %$opts], [qw(content disable nodes shared)], 'foreign options: content, disable, nodes, shared');
ok(!grep({ !$opts->{$_}->{optional} } keys %$opts), 'no required options');
ok(!grep({ $opts->{$_}->{fixed} } keys %$opts), 'no fixed options');
is($props->{'linstor-place-count'}->{minimum}, 1, 'place count minimum');
is($props->{'linstor-place-count'}->{maximum}, 16, 'place count maximum');
is($props->{'linstor-status-cache'}->{maximum}, 7200, 'status cache maximum');
is($props->{'linstor-prefer-local'}->{type}, 'boolean', 'prefer-local is a boolean');

my $drbd = PVE::Storage::Custom::LINSTORPlugin->properties();
ok(!grep({ $props->{$_} } keys %$drbd), 'no property shared with linstor-proxmox');
for my $name (qw(controller resourcegroup preferlocal statuscache exactsize allowtwoprimaries apicrt apikey apica clusterlocktimeout searchdomain)) {
    ok(!$props->{$name}, "does not declare linstor-proxmox's $name");
}

is_deeply($class->plugindata(), {
    content => [{ images => 1, rootdir => 1 }, { images => 1 }],
    format => [{ raw => 1 }, 'raw'],
    'sensitive-properties' => { 'linstor-token' => 1 },
}, 'plugindata');
is_deeply(PVE::Storage::Plugin::sensitive_properties('linstor'), ['linstor-token'], 'the token is a sensitive property');
is($class->type(), 'linstor', 'type');
is_deeply($class->get_formats({ type => 'linstor' }, 'lv'), { default => 'raw', valid => { raw => 1 } }, 'get_formats: raw only');
is($class->check_connection('lv', {}), 1, 'check_connection answers 1 without a call');

# The stand-ins enforce what the real loader enforces (each case in a fresh perl).
my $plugin_src = sub {
    my ($pkg, $type, $props, $opts) = @_;
    return "package $pkg; use base 'PVE::Storage::Plugin'; sub type { '$type' } sub properties { $props } sub options { $opts } package main;";
};
my $r = run_perl('use PVE::Storage; ' . $plugin_src->('Dup', 'dupprop', "{ 'linstor-controllers' => { type => 'string' } }", '{}')
    . ' Dup->register(); PVE::Storage::Plugin->init(); print "survived\n"');
isnt($r->{code}, 0, 'a duplicate property name breaks init');
like($r->{err}, qr/duplicate property 'linstor-controllers'/, '... with "duplicate property"');
$r = run_perl('use PVE::Storage; ' . $plugin_src->('Undef', 'undefopt', '{}', "{ 'no-such-thing' => { optional => 1 } }")
    . ' Undef->register(); PVE::Storage::Plugin->init(); print "survived\n"');
like($r->{err}, qr/undefined property 'no-such-thing'/, 'an option naming no property dies "undefined property"');
$r = run_perl('use PVE::Storage; ' . $plugin_src->('Again', 'linstor', '{}', '{}') . ' Again->register();');
like($r->{err}, qr/duplicate plugin registration \(type = linstor\)/, 'a duplicate type dies');
$r = run_perl('use PVE::Storage; PVE::Storage::Plugin->init(); print "ok\n"');
is($r->{out}, "ok\n", 'init can run again') or diag $r->{err};

# perl -c of the shim with the stand-ins.
$r = LVTest::run_cmd([$^X, (map { "-I$_" } LVTest::lib_dirs()), '-c', LVTest::repo_root() . '/plugins/proxmox/perl/PVE/Storage/Custom/LinstorVirtPlugin.pm']);
is($r->{code}, 0, 'perl -c passes') or diag $r->{err};
like($r->{err}, qr/syntax OK/, '... syntax OK');
$r = run_perl('use warnings FATAL => "all"; use PVE::Storage; print "ok\n"');
is($r->{out}, "ok\n", 'loads without any Perl warning (FATAL warnings)') or diag $r->{err};

done_testing();
