package PVE::AccessControl;

# Test stand-in for the one function of pve-access-control that storage code calls: the storage
# API's delete handler ends with remove_storage_access($storeid), which on a node drops the
# storage's entries from the ACL in user.cfg. pve-access-control is not among the sources the
# tests run, and no ACL exists here; the calls are counted so a test can see that PVE made it.

use strict;
use warnings;

our @REMOVED_STORAGE_ACCESS;

sub remove_storage_access {
    my ($storeid) = @_;
    push @REMOVED_STORAGE_ACCESS, $storeid;
    return;
}

1;
