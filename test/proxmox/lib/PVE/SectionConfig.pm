package PVE::SectionConfig;

# Stand-in for pve-common's PVE::SectionConfig in "unified" mode (tests only), written from the
# behaviour described in ../shared/reference/proxmox.md sections 1.1 and 2:
# - register: one class per type; a second registration of a type dies.
# - init: every plugin's properties() go into ONE global property list (forced optional); a name
#   declared twice dies "duplicate property"; an options() entry naming no property dies
#   "undefined property". init can run again (it rebuilds from the base properties).
# - parse_config: the storage.cfg syntax (headers in column 0, indented "key value" lines, a
#   completely empty line ends a section, '#' lines dropped anywhere, booleans only 0/1 or a bare
#   key, integer ranges, unknown/unexpected/duplicate/invalid properties dropped with an error,
#   missing required options skip the section).

use strict;
use warnings;

use PVE::JSONSchema;

sub private { die "the base class must implement private()\n" }
sub type { die "a plugin must implement type()\n" }
sub properties { return {} }
sub options { return {} }
sub plugindata { return {} }

sub register {
    my ($class) = @_;
    my $type = $class->type();
    my $pdata = $class->private();
    die "duplicate plugin registration (type = $type)\n" if defined($pdata->{plugins}->{$type});
    $pdata->{plugindata}->{$type} = $class->plugindata();
    $pdata->{plugins}->{$type} = $class;
}

sub init {
    my ($class) = @_;
    my $pdata = $class->private();
    $pdata->{base_propertyList} //= { %{ $pdata->{propertyList} } };
    my $props = { %{ $pdata->{base_propertyList} } };
    my $plugins = $pdata->{plugins};
    for my $type (sort keys %$plugins) {
        my $own = $plugins->{$type}->properties();
        for my $name (sort keys %$own) {
            die "duplicate property '$name'\n" if defined($props->{$name});
            $props->{$name} = { %{ $own->{$name} }, optional => 1 };
        }
    }
    my %options;
    for my $type (sort keys %$plugins) {
        my $opts = $plugins->{$type}->options();
        for my $name (sort keys %$opts) {
            die "undefined property '$name'\n" if !defined($props->{$name});
        }
        $options{$type} = $opts;
    }
    $props->{type} = { %{ $props->{type} // {} }, type => 'string', enum => [sort keys %$plugins] };
    $pdata->{propertyList} = $props;
    $pdata->{options} = \%options;
    return 1;
}

sub lookup {
    my ($class, $type) = @_;
    my $plugin = $class->private()->{plugins}->{$type};
    die "unknown section type '$type'\n" if !$plugin;
    return $plugin;
}

sub lookup_types {
    my ($class) = @_;
    return [sort keys %{ $class->private()->{plugins} }];
}

sub parse_section_header {
    my ($class, $line) = @_;
    return undef if $line !~ m/^(\S+):\s*(\S+)\s*\z/;
    return ($1, $2, undef, {});
}

sub decode_value {
    my ($class, $type, $key, $value) = @_;
    return $value;
}

# Returns the checked (and decoded) value or dies with the reason.
sub check_value {
    my ($class, $type, $key, $value) = @_;
    my $pdata = $class->private();
    my $schema = $pdata->{propertyList}->{$key};
    die "unknown property type\n" if !$schema;
    die "unexpected property\n" if !$pdata->{options}->{$type}->{$key};
    # A bare key is a boolean set to 1.
    $value = 1 if !defined($value) && ($schema->{type} // '') eq 'boolean';
    PVE::JSONSchema::check_value($schema, $value);
    return $class->decode_value($type, $key, $value);
}

sub parse_config {
    my ($class, $filename, $raw) = @_;
    my $pdata = $class->private();
    my $cfg = { ids => {}, order => {}, errors => [] };
    my $record = sub {
        my ($section, $key, $err) = @_;
        chomp($err);
        warn "$filename: $section" . (defined($key) ? ": property '$key'" : '') . " - $err\n";
        push @{ $cfg->{errors} }, { context => $section, ($key ? (key => $key) : ()), err => $err };
    };
    my @lines = split(/\n/, $raw // '', -1);
    my $order = 0;
    while (@lines) {
        my $line = shift(@lines);
        next if $line =~ m/^\s*#/ || $line =~ m/^\s*\z/;
        my ($type, $id, $errmsg) = $class->parse_section_header($line);
        if (!defined($type)) {
            warn "$filename: ignore config line: $line\n";
            next;
        }
        my %props;
        my $section_ok = 1;
        while (@lines) {
            my $l = shift(@lines);
            last if $l eq '';    # only a completely empty line ends a section
            next if $l =~ m/^\s*#/;
            if ($l !~ m/^\s+(\S+)(?:\s+(.*?))?\s*\z/) {
                warn "$filename: ignore config line: $l\n";
                next;
            }
            my ($key, $value) = ($1, $2);
            $value = undef if defined($value) && $value eq '';
            if (exists($props{$key})) {
                $record->("section '$id'", $key, 'duplicate attribute');
                next;
            }
            if (!$pdata->{plugins}->{$type}) {
                next;    # the whole section is reported below
            }
            my $checked = eval { $class->check_value($type, $key, $value) };
            if (my $err = $@) {
                $record->("section '$id'", $key, $err);
                next;
            }
            $props{$key} = $checked;
        }
        if ($errmsg) {
            $record->("section '$id'", undef, "skipped: $errmsg");
            next;
        }
        if (!$pdata->{plugins}->{$type}) {
            $record->("section '$id'", undef, "unsupported type '$type'");
            next;
        }
        my $opts = $pdata->{options}->{$type};
        for my $name (sort keys %$opts) {
            next if $opts->{$name}->{optional} || exists($props{$name});
            $record->("section '$id'", $name, 'missing value for required option - section skipped');
            $section_ok = 0;
        }
        next if !$section_ok;
        $cfg->{ids}->{$id} = { %props, type => $type };
        $cfg->{order}->{$id} = ++$order;
    }
    return $cfg;
}

1;
