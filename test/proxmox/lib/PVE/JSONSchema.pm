package PVE::JSONSchema;

# Stand-in for pve-common's PVE::JSONSchema (tests only): standard options, named formats (with
# the `<format>-list` convention: each entry of a split_list is checked) and the value checks the
# storage.cfg parser applies to a property: booleans only '0' or '1', integers as digits within
# minimum/maximum, enum, pattern, min/maxLength, format.

use strict;
use warnings;

use PVE::Tools qw(split_list);

use base 'Exporter';
our @EXPORT_OK = qw(get_standard_option register_standard_option);

my %standard_options;
my %formats;

sub register_standard_option {
    my ($name, $schema) = @_;
    die "standard option '$name' already registered\n" if $standard_options{$name};
    $standard_options{$name} = $schema;
}

sub get_standard_option {
    my ($name, $base) = @_;
    my $std = $standard_options{$name} or die "no such standard option '$name'\n";
    my $res = { %{ $base // {} } };
    $res->{$_} //= $std->{$_} for keys %$std;
    return $res;
}

sub register_format {
    my ($name, $code) = @_;
    die "JSON schema format '$name' already registered\n" if $formats{$name};
    $formats{$name} = $code;
}

sub parse_storage_id {
    my ($id, $noerr) = @_;
    return $id if defined($id) && $id =~ m/^[a-z][a-z0-9\-_.]*[a-z0-9]\z/i;
    return undef if $noerr;
    die "storage ID '" . ($id // '') . "' contains illegal characters\n";
}

sub pve_verify_node_name {
    my ($node, $noerr) = @_;
    return $node if defined($node) && $node =~ m/^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?\z/;
    return undef if $noerr;
    die "value does not look like a valid node name\n";
}

sub pve_verify_vmid {
    my ($vmid, $noerr) = @_;
    return $vmid if defined($vmid) && $vmid =~ m/^[1-9][0-9]{2,8}\z/;
    return undef if $noerr;
    die "value does not look like a valid VM ID\n";
}

register_format('string', sub { return $_[0] });
register_format('pve-storage-id', \&parse_storage_id);
register_format('pve-node', \&pve_verify_node_name);
register_format('pve-vmid', \&pve_verify_vmid);

register_standard_option('pve-storage-id', { description => 'The storage identifier.', type => 'string', format => 'pve-storage-id' });
register_standard_option('pve-node-list', { description => 'List of cluster node names.', type => 'string', format => 'pve-node-list' });
register_standard_option('pve-vmid', { description => 'The (unique) ID of the VM.', type => 'integer', minimum => 100, maximum => 999_999_999 });

sub check_format {
    my ($format, $value) = @_;
    my ($name, $list) = $format =~ m/^(.*?)(-list)?\z/;
    my $code = $formats{$name} or die "undefined format '$format'\n";
    if ($list) {
        $code->($_) for split_list($value);
    } else {
        $code->($value);
    }
}

# Dies with the message PVE would record when $value does not satisfy $schema.
sub check_value {
    my ($schema, $value) = @_;
    my $type = $schema->{type} // 'string';
    die "got undefined value\n" if !defined($value);
    if ($type eq 'boolean') {
        die "type check ('boolean') failed - got '$value'\n" if $value ne '0' && $value ne '1';
    } elsif ($type eq 'integer' || $type eq 'number') {
        my $re = $type eq 'integer' ? qr/^[+-]?\d+\z/ : qr/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\z/;
        die "type check ('$type') failed - got '$value'\n" if $value !~ $re;
        die "value must have a minimum value of $schema->{minimum}\n"
            if defined($schema->{minimum}) && $value < $schema->{minimum};
        die "value must have a maximum value of $schema->{maximum}\n"
            if defined($schema->{maximum}) && $value > $schema->{maximum};
    }
    if (my $enum = $schema->{enum}) {
        die "value '$value' does not have a value in the enumeration '" . join(', ', @$enum) . "'\n"
            if !grep { $_ eq $value } @$enum;
    }
    die "value does not match the regex pattern\n"
        if defined($schema->{pattern}) && $value !~ m/^$schema->{pattern}\z/;
    die "value must be at most $schema->{maxLength} characters\n"
        if defined($schema->{maxLength}) && length($value) > $schema->{maxLength};
    die "value must be at least $schema->{minLength} characters\n"
        if defined($schema->{minLength}) && length($value) < $schema->{minLength};
    check_format($schema->{format}, $value) if defined($schema->{format}) && !ref($schema->{format});
    return $value;
}

1;
