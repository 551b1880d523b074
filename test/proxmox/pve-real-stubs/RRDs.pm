package RRDs;

# Test stand-in for librrds-perl (compiled, not installed on the test machines). pvesm loads
# PVE::API2::Storage::Status, which uses RRDs only to draw and fetch RRD graphs; the storage tests
# never ask for one, and any call here dies naming the stand-in.

use strict;
use warnings;

sub error { return undef }

for my $f (qw(fetch last graphv create update info)) {
    no strict 'refs';
    *{"RRDs::$f"} = sub { die "RRDs::$f: librrds-perl is not installed (test stand-in)\n" };
}

1;
