package PVE::Storage;

# Stand-in for pve-storage's PVE::Storage (tests only): the loading sequence of a real node
# (../shared/reference/proxmox.md section 1.1), nothing else.
#
# - APIVER 15 and APIAGE 6, or $ENV{LV_PVE_APIVER} / $ENV{LV_PVE_APIAGE} (read once, at load) so
#   tests can pretend to be an older or newer PVE.
# - Registers the built-in stand-ins, then loads every PVE/Storage/Custom/*.pm found under @INC
#   (the real loader scans only /usr/share/perl5/PVE/Storage/Custom; tests put the shim and the
#   linstor-proxmox stand-in there through -I). Each custom plugin goes through the real checks:
#   isa PVE::Storage::Plugin, has api(), api() not above APIVER ("newer than current"), not below
#   APIVER - APIAGE ("too old"), then register(); a warning when api() != APIVER. A failure only
#   warns ("Error loading storage plugin ...") and the plugin's type stays unknown.
# - Finally PVE::Storage::Plugin->init() (not in an eval: a property collision breaks everything,
#   as on a real node).
#
# @LOAD_WARNINGS and %CUSTOM_PLUGINS (type => class) let tests see what happened.

use strict;
use warnings;

use constant APIVER => (defined($ENV{LV_PVE_APIVER}) ? $ENV{LV_PVE_APIVER} + 0 : 15);
use constant APIAGE => (defined($ENV{LV_PVE_APIAGE}) ? $ENV{LV_PVE_APIAGE} + 0 : 6);

use PVE::Storage::Plugin;
use PVE::Storage::DirPlugin;
use PVE::Storage::LVMPlugin;
use PVE::Storage::LvmThinPlugin;
use PVE::Storage::RBDPlugin;
use PVE::Storage::ZFSPoolPlugin;
use PVE::Storage::NFSPlugin;
use PVE::Storage::PBSPlugin;

our @LOAD_WARNINGS;
our %CUSTOM_PLUGINS;

PVE::Storage::DirPlugin->register();
PVE::Storage::LVMPlugin->register();
PVE::Storage::LvmThinPlugin->register();
PVE::Storage::RBDPlugin->register();
PVE::Storage::ZFSPoolPlugin->register();
PVE::Storage::NFSPlugin->register();
PVE::Storage::PBSPlugin->register();

sub _note {
    my ($text) = @_;
    push @LOAD_WARNINGS, $text;
    warn "$text\n";
}

my %seen;
for my $inc (@INC) {
    next if ref($inc);
    my $dir = "$inc/PVE/Storage/Custom";
    opendir(my $dh, $dir) or next;
    for my $file (sort readdir($dh)) {
        next if $file !~ m/^(\w+)\.pm\z/;
        my $base = $1;
        next if $seen{$base}++;
        my $modname = "PVE::Storage::Custom::$base";
        eval {
            require "PVE/Storage/Custom/$base.pm";    # $base: untainted by the match above
            die "not derived from PVE::Storage::Plugin\n" if !$modname->isa('PVE::Storage::Plugin');
            die "does not provide an api() method\n" if !$modname->can('api');
            my $version = $modname->api();
            die "version $version is newer than current (" . APIVER . ")\n" if $version > APIVER;
            my $min = APIVER - APIAGE;
            die "version $version is too old, current min version is $min, please update\n" if $version < $min;
            $modname->register();
            $CUSTOM_PLUGINS{ $modname->type() } = $modname;
            _note("Plugin \"$modname\" is implementing an older storage API, an upgrade is recommended")
                if $version != APIVER;
        };
        if (my $err = $@) {
            chomp($err);
            _note("Error loading storage plugin \"$modname\": $err");
        }
    }
    closedir($dh);
}

PVE::Storage::Plugin->init();

1;
