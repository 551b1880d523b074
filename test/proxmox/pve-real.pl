#!/usr/bin/perl

# One Proxmox VE node for tests (test/proxmox/pve-real.ts): boots the REAL storage library
# (pve-storage, pve-common and pve-cluster's pure-Perl parts, from $PVE_SRC) with the shared
# pve-harness (../shared/tools/pve-harness: its stubs replace only pmxcfs, the RPC environment,
# librados and the PBS client), which loads our plugin through PVE's own custom-plugin loader from
# $PVE_PLUGIN_LIB, and then answers requests, one JSON object per line on stdin:
#
#   {"id": 1, "fn": "vdisk_alloc", "args": ["lv", 100, null, "vm-100-disk-0", 4096], "context": "scalar"}
#
# by calling PVE::Storage::<fn>($cfg, @args) with storage.cfg read afresh (as a new API request
# does), and replying on stdout, one JSON line each:
#
#   {"id": 1, "ok": 1, "result": ..., "warnings": [...], "workers": [...]}   or   {"id": 1, "ok": 0, "error": "..."}
#
# "context" is "scalar" (default), "list" (the list, as an array) or "void". A few entry points
# take an out-parameter or a file handle and are wrapped: volume_rollback_is_possible answers
# {possible, blockers}; volume_rollback_check the same without dying ({possible: 0, blockers,
# error}: what qemu-server shows when a rollback is refused); volume_export_file [file, volid,
# snapshot] exports raw+size into a file. Everything else PVE, the plugin or a task prints goes
# to stderr.
#
# "fn" may also name an API or CLI handler, "<package>->method" with "args": [param], run as the
# API server or the CLI runs it (PVE::RESTHandler's handle: the method's schema checks param,
# then its code runs): PVE::API2::Storage::Config->create / update / delete (pvesm add / set /
# remove, the GUI's storage dialogs), PVE::API2::Storage::Content->index / create, and
# PVE::CLI::pvesm->export / import (pvesm export / import; give a file or fifo, never "-": this
# process's stdin and stdout are the request channel).
#
# Stand-ins loaded after the boot, for what cannot load here (pve-real-stubs/): RRDs (librrds-perl,
# compiled, not installed here; pvesm loads PVE::API2::Storage::Status, which needs it only for
# RRD graphs) and PVE::AccessControl::remove_storage_access (pve-access-control is not part of the
# sources; storage removal calls it last to drop the storage's ACL entries, which do not exist
# here). PVE_REAL_LOCK_WORK_LIMIT (seconds) replaces the 60 s a cluster-locked command may run.
#
# Environment: PVE_SRC, PVE_PLUGIN_LIB, PVE_HARNESS_ETC (shared by the nodes of one cluster),
# PVE_NODE (this node's name), PVE_HARNESS (the pve-harness folder), and whatever the plugin reads
# (LINSTOR_VIRT_AGENT_SOCKET, LINSTOR_VIRT_DEVICE_ROOT, LINSTOR_VIRT_PVE_PRIV_DIR).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IO::Handle;
use JSON::PP ();
use Scalar::Util qw(blessed);

BEGIN {
    my $harness = $ENV{PVE_HARNESS} // die "pve-real: PVE_HARNESS is not set\n";
    unshift @INC, "$harness/lib";
}
use PVEHarness;

# stdout carries the replies only.
open(my $OUT, '>&', \*STDOUT) or die "pve-real: cannot dup stdout: $!\n";
$OUT->autoflush(1);
open(STDOUT, '>&', \*STDERR) or die "pve-real: cannot redirect stdout: $!\n";
STDERR->autoflush(1);

my $json = JSON::PP->new->canonical(1)->allow_nonref(1)->allow_blessed(1)->convert_blessed(0);

# Plain data for JSON: blessed objects (PVE::Exception, JSON booleans) become hashes or scalars.
sub plain {
    my ($v) = @_;
    return undef if !defined($v);
    if (ref($v) eq 'JSON::PP::Boolean') {
        return $v ? 1 : 0;
    }
    if (blessed($v)) {
        return "$v" if !$v->isa('HASH');
        return { map { $_ => plain($v->{$_}) } keys %$v };
    }
    return [map { plain($_) } @$v] if ref($v) eq 'ARRAY';
    return { map { $_ => plain($v->{$_}) } keys %$v } if ref($v) eq 'HASH';
    return "$v" if ref($v);
    return $v;
}

my $node = $ENV{PVE_NODE} // die "pve-real: PVE_NODE is not set\n";
my $boot = eval { PVEHarness::set_node($node); my $b = PVEHarness::boot(); PVEHarness::set_node($node); $b };
if (!$boot) {
    print $OUT $json->encode({ id => 0, ok => 0, error => "boot failed: $@" }), "\n";
    exit(1);
}
print $OUT $json->encode({ id => 0, ok => 1, result => plain($boot) }), "\n";

# Stand-ins for what cannot load here (see the header); after the real sources on @INC, so an
# installed RRDs would win.
push @INC, dirname(abs_path(__FILE__)) . '/pve-real-stubs';
if (defined(my $limit = $ENV{PVE_REAL_LOCK_WORK_LIMIT})) {
    no warnings 'once';
    $PVE::Cluster::LOCK_WORK_LIMIT = $limit + 0 if $limit =~ m/^[0-9]+\z/;
}

# The API and CLI handlers a request may name.
my %HANDLERS = map { $_ => 1 } qw(PVE::API2::Storage::Config PVE::API2::Storage::Content PVE::CLI::pvesm);

sub run_handler {
    my ($pkg, $method, $param) = @_;
    die "pve-real: '$pkg' is not a handler this driver runs\n" if !$HANDLERS{$pkg};
    (my $file = "$pkg.pm") =~ s!::!/!g;
    require $file;
    require PVE::AccessControl if $pkg eq 'PVE::API2::Storage::Config';
    my $info = $pkg->map_method_by_name($method);
    return $pkg->handle($info, $param // {});
}

my %WRAPPED = (
    # volume_export to a file (what vzdump and storage migration stream): [file, volid, snapshot]
    # answers the bytes written.
    volume_export_file => sub {
        my ($cfg, $file, $volid, $snapshot) = @_;
        open(my $fh, '>', $file) or die "pve-real: cannot write $file: $!\n";
        PVE::Storage::volume_export($cfg, $fh, $volid, 'raw+size', $snapshot, undef, 0);
        close($fh) or die "pve-real: cannot close $file: $!\n";
        return -s $file;
    },
    volume_rollback_check => sub {
        my ($cfg, @a) = @_;
        my $blockers = [];
        my $possible = eval { PVE::Storage::volume_rollback_is_possible($cfg, @a, $blockers) };
        my $err = $@;
        return { possible => $possible ? 1 : 0, blockers => $blockers } if !$err;
        $err =~ s/\s+\z//;
        return { possible => 0, blockers => $blockers, error => "$err" };
    },
    volume_rollback_is_possible => sub {
        my ($cfg, @a) = @_;
        my $blockers = [];
        my $possible = PVE::Storage::volume_rollback_is_possible($cfg, @a, $blockers);
        return { possible => $possible ? 1 : 0, blockers => $blockers };
    },
);

while (defined(my $line = <STDIN>)) {
    next if $line !~ m/\S/;
    my $req = eval { $json->decode($line) };
    if (ref($req) ne 'HASH') {
        print $OUT $json->encode({ id => -1, ok => 0, error => "not a request: $line" }), "\n";
        next;
    }
    my ($id, $fn, $args, $context) = ($req->{id}, $req->{fn} // '', $req->{args} // [], $req->{context} // 'scalar');
    PVEHarness::set_node($node);
    my @warnings;
    local $SIG{__WARN__} = sub {
        push @warnings, $_[0];
        print STDERR $_[0];
    };
    my $rpcenv = eval { PVE::RPCEnvironment::get() };
    $rpcenv->harness_workers() if $rpcenv;

    my $result = eval {
        die "pve-real: the arguments of '$fn' are not a list\n" if ref($args) ne 'ARRAY';
        return run_handler($1, $2, $args->[0]) if $fn =~ m/^(PVE::[A-Za-z0-9:]+)->([a-z_]+)\z/;
        die "pve-real: '$fn' is not a PVE::Storage function\n" if $fn !~ m/^[a-z_]+\z/;
        my $code = $WRAPPED{$fn} // PVE::Storage->can($fn) // die "pve-real: PVE::Storage has no '$fn'\n";
        # storage.cfg read afresh for each call, as for a new API request
        my $cfg = PVE::Storage::config();
        if ($context eq 'list') {
            my @r = $code->($cfg, @$args);
            return \@r;
        }
        if ($context eq 'void') {
            $code->($cfg, @$args);
            return undef;
        }
        return scalar($code->($cfg, @$args));
    };
    my $err = $@;
    my $workers = $rpcenv ? $rpcenv->harness_workers() : [];
    my %reply = (id => $id, ok => $err ? 0 : 1);
    $reply{result} = plain($result) if !$err;
    if ($err) {
        (my $text = "$err") =~ s/\s+\z//;
        $reply{error} = $text;
    }
    # A task that failed fails the call, as the API reports it.
    for my $w (@$workers) {
        next if ($w->{status} // '') eq 'OK';
        $reply{ok} = 0;
        $reply{error} //= "task $w->{type} failed: " . ($w->{status} // 'unknown');
    }
    $reply{workers} = plain($workers) if @$workers;
    $reply{warnings} = [map { s/\s+\z//r } @warnings] if @warnings;
    print $OUT $json->encode(\%reply), "\n";
}
exit(0);
