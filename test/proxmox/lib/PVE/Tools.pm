package PVE::Tools;

# Stand-in for pve-common's PVE::Tools (tests only): just split_list, with the behaviour PVE's
# storage.cfg parser relies on (commas, semicolons and whitespace all separate entries; a value
# containing NUL bytes is split on those instead).

use strict;
use warnings;

use base 'Exporter';
our @EXPORT_OK = qw(split_list);

sub split_list {
    my ($text) = @_;
    return () if !defined($text);
    return grep { length } split(/\0/, $text) if $text =~ m/\0/;
    return grep { length } split(/[,;\s]+/, $text);
}

1;
