package PVE::INotify;

# Stand-in for pve-common's PVE::INotify (tests only): nodename() is the short host name, or
# $ENV{LV_PVE_NODENAME} so tests can pretend to be any node.

use strict;
use warnings;

use POSIX ();

sub nodename {
    return $ENV{LV_PVE_NODENAME} if defined($ENV{LV_PVE_NODENAME}) && $ENV{LV_PVE_NODENAME} ne '';
    my $host = (POSIX::uname())[1];
    $host =~ s/\..*\z//s;
    return $host;
}

1;
