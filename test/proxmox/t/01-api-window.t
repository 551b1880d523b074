# api() against the loader's version window, for PVE versions older and newer than the one we
# were tested against (APIVER/APIAGE of the stand-in PVE::Storage come from the environment).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../tlib";
use Test::More;

use LVTest qw(run_perl);

my $probe = 'use PVE::Storage; print join("|", PVE::Storage::Custom::LinstorVirtPlugin->api(),'
    . ' ($PVE::Storage::CUSTOM_PLUGINS{linstor} ? "loaded" : "rejected"),'
    . ' ($PVE::Storage::CUSTOM_PLUGINS{drbd} ? "drbd" : "no-drbd")), "\n"';

my @cases = (
    # APIVER, APIAGE, expected api(), loaded?, warning expected in the loader's output, and whether
    # the linstor-proxmox stand-in (tested up to 15) loads on that version
    [15, 6, 15, 'loaded', undef, 'drbd', 'current PVE 9.1'],
    [12, 6, 12, 'loaded', undef, 'drbd', 'PVE 9.0 (APIVER 12): its own version, no warning'],
    [9, 0, 9, 'loaded', undef, 'drbd', 'lowest supported APIVER 9'],
    [16, 7, 15, 'loaded', qr/LinstorVirtPlugin" is implementing an older storage API/, 'drbd', 'newer PVE still accepting 15'],
    [20, 3, 15, 'rejected', qr/LinstorVirtPlugin": version 15 is too old, current min version is 17/, 'no-drbd', 'PVE no longer accepting 15'],
    [8, 2, 15, 'rejected', qr/LinstorVirtPlugin": version 15 is newer than current \(8\)/, 'drbd', 'PVE older than API 9'],
);

for my $c (@cases) {
    my ($apiver, $apiage, $want, $state, $warning, $drbd, $name) = @$c;
    my $r = run_perl($probe, env => { LV_PVE_APIVER => $apiver, LV_PVE_APIAGE => $apiage });
    is($r->{code}, 0, "$name: runs") or diag $r->{err};
    is($r->{out}, "$want|$state|$drbd\n", "$name: api() $want, $state; linstor-proxmox: $drbd");
    if ($warning) {
        like($r->{err}, $warning, "$name: the loader says why");
    } else {
        unlike($r->{err}, qr/LinstorVirtPlugin/, "$name: no loader message about us");
    }
}

# Without a readable PVE::Storage (e.g. the module loaded on its own) api() stays 15.
my $r = run_perl('use PVE::Storage::Custom::LinstorVirtPlugin; print PVE::Storage::Custom::LinstorVirtPlugin->api(), "\n"');
is($r->{out}, "15\n", 'api() is 15 when PVE::Storage is not loaded');

done_testing();
