# storage.cfg sections of type `linstor` through the (stand-in) PVE parser: every option, the
# storage.cfg rules of the reference (section 2), and a linstor-proxmox `drbd` section beside ours.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../tlib";
use Test::More;

my @warnings;
BEGIN { $SIG{__WARN__} = sub { push @warnings, @_ } }

use LVTest ();    # first: starts from a clean environment
use PVE::Storage;

sub parse {
    my ($text) = @_;
    @warnings = ();
    return PVE::Storage::Plugin->parse_config('storage.cfg', $text);
}

sub errors_for {
    my ($cfg, $key) = @_;
    return join("\n", map { $_->{err} } grep { ($_->{key} // '') eq $key } @{ $cfg->{errors} });
}

my $full = <<'CFG';
dir: local
	path /var/lib/vz
	content iso,vztmpl,backup

linstor: lv1
	content images,rootdir
	linstor-controllers linstor://ctrl-a,linstor://ctrl-b
	linstor-place-count 3
	linstor-storage-pools ssd,nvme
	linstor-replicas-on-different Aux/rack
	linstor-prefer-local 0
	linstor-status-cache 30
	linstor-exact-size 1
	linstor-ca /etc/linstor/ca.pem
	linstor-cert /etc/linstor/client.pem
	linstor-key /etc/linstor/client.key
	linstor-controller-vms 100,101
	linstor-agent-socket /run/linstor-virt/agent.sock
	nodes alpha,bravo
	disable

drbd: drbdstorage
	content images,rootdir
	controller 10.11.12.13
	resourcegroup defaultpool
	preferlocal yes
	statuscache 60
CFG

my $cfg = parse($full);
is_deeply($cfg->{errors}, [], 'no errors for a full section') or diag explain $cfg->{errors};
is_deeply($cfg->{ids}->{lv1}, {
    type => 'linstor',
    content => { images => 1, rootdir => 1 },
    'linstor-controllers' => 'linstor://ctrl-a,linstor://ctrl-b',
    'linstor-place-count' => 3,
    'linstor-storage-pools' => 'ssd,nvme',
    'linstor-replicas-on-different' => 'Aux/rack',
    'linstor-prefer-local' => 0,
    'linstor-status-cache' => 30,
    'linstor-exact-size' => 1,
    'linstor-ca' => '/etc/linstor/ca.pem',
    'linstor-cert' => '/etc/linstor/client.pem',
    'linstor-key' => '/etc/linstor/client.key',
    'linstor-controller-vms' => '100,101',
    'linstor-agent-socket' => '/run/linstor-virt/agent.sock',
    nodes => { alpha => 1, bravo => 1 },
    disable => 1,
    shared => 1,
}, 'every option parsed; bare disable is 1; shared forced to 1');
is($cfg->{ids}->{drbdstorage}->{resourcegroup}, 'defaultpool', 'the drbd section parses beside ours');
is($cfg->{ids}->{drbdstorage}->{shared}, 1, 'drbd is shared too');

# Minimal: no options at all is a valid section (nothing is required), content defaults to images.
$cfg = parse("linstor: lv2\n");
is_deeply($cfg->{errors}, [], 'an empty section is valid');
is_deeply($cfg->{ids}->{lv2}, { type => 'linstor', content => { images => 1 }, shared => 1 }, 'defaults: images only, shared');

# Types: upper-case header works; values with internal spaces; trailing blanks stripped.
$cfg = parse("LINSTOR:lv3\n\tlinstor-resource-group  pve ssd   \n");
is($cfg->{ids}->{lv3}->{type}, 'linstor', 'type is lower-cased, no space needed after the colon');
is($cfg->{ids}->{lv3}->{'linstor-resource-group'}, 'pve ssd', 'value keeps inner spaces, loses trailing ones');

# Booleans only 0/1.
$cfg = parse("linstor: lv4\n\tlinstor-prefer-local yes\n\tlinstor-exact-size true\n");
ok(!exists($cfg->{ids}->{lv4}->{'linstor-prefer-local'}), 'prefer-local yes is dropped');
like(errors_for($cfg, 'linstor-prefer-local'), qr/type check \('boolean'\) failed/, '... as a boolean type error');
like(errors_for($cfg, 'linstor-exact-size'), qr/type check \('boolean'\) failed/, 'exact-size true is dropped too');

# Integer ranges.
$cfg = parse("linstor: lv5\n\tlinstor-status-cache 99999\n\tlinstor-place-count 0\n\tlinstor-place-count 2\n");
ok(!exists($cfg->{ids}->{lv5}->{'linstor-status-cache'}), 'status-cache 99999 is dropped');
like(errors_for($cfg, 'linstor-status-cache'), qr/maximum value of 7200/, '... over the maximum');
like(errors_for($cfg, 'linstor-place-count'), qr/minimum value of 1/, 'place-count 0 is under the minimum');
$cfg = parse("linstor: lv5\n\tlinstor-place-count 17\n");
like(errors_for($cfg, 'linstor-place-count'), qr/maximum value of 16/, 'place-count 17 is over the maximum');
$cfg = parse("linstor: lv5\n\tlinstor-place-count two\n");
like(errors_for($cfg, 'linstor-place-count'), qr/type check \('integer'\)/, 'place-count must be an integer');

# Unknown and foreign properties.
$cfg = parse("linstor: lv6\n\tlinstor-bogus 1\n\tresourcegroup rg\n\tpath /x\n\tlinstor-place-count 2\n");
like(errors_for($cfg, 'linstor-bogus'), qr/unknown property type/, 'an unknown property is dropped');
like(errors_for($cfg, 'resourcegroup'), qr/unexpected property/, "linstor-proxmox's resourcegroup is not ours");
like(errors_for($cfg, 'path'), qr/unexpected property/, "dir's path is not ours");
is($cfg->{ids}->{lv6}->{'linstor-place-count'}, 2, 'the valid property survives');

# Formats: paths must be absolute, VM ids valid.
$cfg = parse("linstor: lv7\n\tlinstor-ca relative/ca.pem\n\tlinstor-controller-vms 100,abc\n");
like(errors_for($cfg, 'linstor-ca'), qr/absolute path/, 'a relative CA path is refused');
like(errors_for($cfg, 'linstor-controller-vms'), qr/valid VM ID/, 'a bad VM id is refused');

# Duplicate keys keep the first; content types we do not support are dropped.
$cfg = parse("linstor: lv8\n\tlinstor-resource-group a\n\tlinstor-resource-group b\n\tcontent images,iso,rootdir\n");
is($cfg->{ids}->{lv8}->{'linstor-resource-group'}, 'a', 'duplicate attribute: first value kept');
like(errors_for($cfg, 'linstor-resource-group'), qr/duplicate attribute/, '... with an error');
is_deeply($cfg->{ids}->{lv8}->{content}, { images => 1, rootdir => 1 }, 'iso is dropped from content');
ok(grep({ m/does not support content type 'iso'/ } @warnings), '... with a warning');

# Sections end at a completely empty line; comments do not end a section.
$cfg = parse("linstor: lv9\n\t# a comment\n\tlinstor-place-count 2\n# another\n\tlinstor-status-cache 5\n\nlinstor: lv10\n\tlinstor-place-count 4\n");
is($cfg->{ids}->{lv9}->{'linstor-status-cache'}, 5, 'comments do not end a section');
is($cfg->{ids}->{lv10}->{'linstor-place-count'}, 4, 'the next section after a blank line');

# A bad storage id skips the section.
$cfg = parse("linstor: 9lv\n\tlinstor-place-count 2\n");
ok(!$cfg->{ids}->{'9lv'}, 'an invalid storage ID skips the section');

# linstor-token in the section (PVE without sensitive-properties support) is a valid option.
$cfg = parse("linstor: lv11\n\tlinstor-token abc\n");
is($cfg->{ids}->{lv11}->{'linstor-token'}, 'abc', 'linstor-token is an accepted option');

# A drbd section without linstor-proxmox's required resourcegroup is skipped (their problem, not
# ours: our type has no required option).
$cfg = parse("drbd: d2\n\tcontroller x\n");
ok(!$cfg->{ids}->{d2}, 'drbd without resourcegroup is skipped (the stand-in models required options)');

done_testing();
