package PVE::Storage::Custom::LinstorVirtPlugin;

# linstor-virt storage plugin for Proxmox VE (storage type `linstor`).
#
# A thin shim: it answers the pure methods (volume names, device paths, the feature matrix) itself,
# because Proxmox calls them in tight loops, and forwards every other method as one request of the
# call protocol (docs/agent.md, plugins/proxmox/CONTRACT.md) to the linstor-virt agent's unix
# socket, or, when no agent listens, to the one-shot CLI `node <cli> call --stdin`. All decisions
# (placement, LINSTOR calls, retries, caching) live in the TypeScript program, never here.
#
# Core Perl modules only, so the package needs nothing beyond what every PVE node has.
#
# Environment (all optional; production needs none of them):
#   LINSTOR_VIRT_AGENT_SOCKET     agent socket when storage.cfg has no linstor-agent-socket
#                                 (default /run/linstor-virt/agent.sock)
#   LINSTOR_VIRT_NODE             node binary for the one-shot fallback (default /usr/bin/node, of
#                                 the nodejs package the Debian packages depend on)
#   LINSTOR_VIRT_CLI              the CLI bundle (default /usr/lib/linstor-virt/linstor-virt.js)
#   LINSTOR_VIRT_DEVICE_ROOT      prefix of device paths (tests and the emulator; empty in production)
#   LINSTOR_VIRT_PVE_PRIV_DIR     replaces /etc/pve/priv, where the token file lives (tests only)
#   LINSTOR_VIRT_DEADLINE_SCALE   factor applied to every deadline (tests only, to make the
#                                 deadline paths fast; e.g. 0.001)

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Errno qw(EACCES ECONNREFUSED ENOENT);
use Fcntl qw(O_CREAT O_EXCL O_RDONLY O_WRONLY);
use IO::Handle;
use IO::Select;
use JSON::PP;
use POSIX ();
use Socket qw(PF_UNIX SOCK_STREAM SOL_SOCKET SO_SNDTIMEO pack_sockaddr_un);
use Time::HiRes ();

use PVE::INotify;
use PVE::Storage::Plugin;

use base qw(PVE::Storage::Plugin);

use constant {
    TYPE => 'linstor',
    # The highest storage API version this module has been tested against, and the lowest one
    # whose signatures it implements (API 9: volume_import_formats with $snapshot; API 10:
    # rename_volume, volume_snapshot_info and the $blockers of volume_rollback_is_possible).
    TESTED_APIVER => 15,
    MIN_APIVER => 9,
    DEFAULT_SOCKET => '/run/linstor-virt/agent.sock',
    DEFAULT_NODE => '/usr/bin/node',
    DEFAULT_CLI => '/usr/lib/linstor-virt/linstor-virt.js',
    DEFAULT_PRIV_DIR => '/etc/pve/priv',
    DEFAULT_DEADLINE_MS => 60_000,
    # Time the transport allows beyond the request's own deadline, so the program can answer
    # "deadline exceeded" itself before the shim gives up on it.
    GRACE_MS => 1000,
    COPY_BUFFER => 1024 * 1024,
};

# Deadlines per operation (milliseconds). status and activate_storage run every 10 s in pvestatd
# and in every GUI storage listing, so they must answer fast. Allocation, free, clone, base
# creation and rename (and the allocation of an import, which locks itself) run inside PVE's
# cluster-wide storage lock, whose body is killed after 60 s:
# they get less than that, so our own "deadline exceeded" reaches the user instead of PVE's
# "locked command timed out".
my %DEADLINE_MS = (
    status => 2000,
    activate_storage => 2000,
    alloc_image => 45_000,
    free_image => 45_000,
    clone_image => 50_000,
    create_base => 50_000,
    rename_volume => 50_000,
    volume_import_begin => 45_000,
);

my $JSON_OUT = JSON::PP->new->utf8->canonical;
my $JSON_IN = JSON::PP->new->utf8->allow_nonref;

# Proxmox treats every type in this list as shared storage (same contents on all nodes): it then
# takes the cluster-wide lock for allocations and never copies our disks on migration. Types are
# added at load time; `drbd` (linstor-proxmox) is in the list from the start.
push @PVE::Storage::Plugin::SHARED_STORAGE, TYPE
    if !grep { $_ eq TYPE } @PVE::Storage::Plugin::SHARED_STORAGE;

# ---------------------------------------------------------------------------------------------
# Registration

# The loader rejects a plugin whose api() is above APIVER ("newer than current") or below
# APIVER - APIAGE ("too old"), and warns on every CLI call when it is below APIVER. So:
# - APIVER within [MIN_APIVER, TESTED_APIVER]: return APIVER. It loads without a warning, and core
#   code then calls the hooks of exactly that version (e.g. on_update_hook below 13,
#   on_update_hook_full from 13), all of which this module implements.
# - APIVER above what we tested, but still accepting TESTED_APIVER (APIVER - APIAGE <= 15):
#   return TESTED_APIVER. PVE loads us with an "older storage API" warning and keeps the behaviour
#   we were tested against.
# - anything else (the versions cannot be read, APIVER below MIN_APIVER, or a PVE that no longer
#   accepts 15): return TESTED_APIVER anyway. We never claim a version we were not tested against;
#   PVE then refuses to load the plugin with its own clear message, which is better than running
#   with signatures we do not implement.
# So APIAGE only decides whether PVE will accept our answer, never what the answer is; it is not
# read here.
sub api {
    # Read inside eval: PVE::Storage is loading us (its constants already exist), but this module
    # may also be loaded on its own (perl -c, tests), where they do not.
    my $apiver = eval { PVE::Storage::APIVER() };
    return TESTED_APIVER if !defined($apiver) || $apiver !~ m/^\d+\z/;
    return $apiver + 0 if $apiver >= MIN_APIVER && $apiver <= TESTED_APIVER;
    # Newer PVE (accepting 15 or not) and anything unexpected: the tested version, see above.
    return TESTED_APIVER;
}

sub type {
    return TYPE;
}

sub plugindata {
    return {
        content => [{ images => 1, rootdir => 1 }, { images => 1 }],
        format => [{ raw => 1 }, 'raw'],
        # PVE (API 11+) strips these from storage.cfg and hands them to the hooks instead; the
        # hooks keep the token in /etc/pve/priv/storage/<storeid>.linstor-token.
        'sensitive-properties' => { 'linstor-token' => 1 },
    };
}

# Every property is prefixed `linstor-`: PVE keeps one property namespace for all storage types and
# refuses to start (`duplicate property`) when two plugins declare the same name, so none of ours
# may collide with the built-in plugins or with linstor-proxmox (controller, resourcegroup, ...).
sub properties {
    return {
        'linstor-controllers' => {
            description => "LINSTOR controllers, comma-separated, tried in order: linstor://host,"
                . " linstor+ssl://host, http(s)://host:port or host[:port]."
                . " Unset: the agent's --controllers, else LS_CONTROLLERS, else"
                . " /etc/linstor/linstor-client.conf, else linstor://localhost.",
            type => 'string',
        },
        'linstor-resource-group' => {
            description => "LINSTOR resource group that new volumes are spawned from. The group then"
                . " decides placement (replica count, storage pools); leave linstor-place-count,"
                . " linstor-storage-pools and linstor-replicas-on-different unset when using it.",
            type => 'string',
        },
        'linstor-place-count' => {
            description => "Number of replicas with a disk that each new volume gets (default 2).",
            type => 'integer',
            minimum => 1,
            maximum => 16,
        },
        'linstor-storage-pools' => {
            description => "LINSTOR storage pools that replicas of new volumes may use,"
                . " comma-separated (default: any pool the controller chooses).",
            type => 'string',
            format => 'string-list',
        },
        'linstor-replicas-on-different' => {
            description => "LINSTOR node property keys whose values must differ between the"
                . " replicas of one volume, comma-separated (for example Aux/rack to spread"
                . " replicas over racks).",
            type => 'string',
            format => 'string-list',
        },
        'linstor-prefer-local' => {
            description => "Put one replica with a disk on the node that creates the volume when"
                . " that node can hold one (1, the default) or let the controller place all"
                . " replicas (0).",
            type => 'boolean',
        },
        'linstor-status-cache' => {
            description => "Seconds a capacity answer may be reused for the storage status shown"
                . " in the GUI and by pvestatd (default 60; 0 asks the controller every time).",
            type => 'integer',
            minimum => 0,
            maximum => 7200,
        },
        'linstor-exact-size' => {
            description => "Make new DRBD devices exactly the requested size (1) instead of"
                . " rounding up (0, the default). Needed while moving running disks onto this"
                . " storage, since the mirror target must match the source size.",
            type => 'boolean',
        },
        'linstor-ca' => {
            description => "Path of the CA certificate (PEM) that signed the controllers' HTTPS"
                . " certificates.",
            type => 'string',
            format => 'pve-storage-path',
        },
        'linstor-cert' => {
            description => "Path of the client certificate (PEM) presented to the controllers;"
                . " needs linstor-key.",
            type => 'string',
            format => 'pve-storage-path',
        },
        'linstor-key' => {
            description => "Path of the private key (PEM) of linstor-cert.",
            type => 'string',
            format => 'pve-storage-path',
        },
        'linstor-token' => {
            description => "API token for the LINSTOR controllers. Stored in"
                . " /etc/pve/priv/storage/<storage>.linstor-token, not in storage.cfg.",
            type => 'string',
        },
        'linstor-controller-vms' => {
            description => "IDs of VMs that run the LINSTOR controller itself, comma-separated."
                . " Their disks are never freed, resized or deactivated through this storage.",
            type => 'string',
            format => 'pve-vmid-list',
        },
        'linstor-node-map' => {
            description => "PVE node names that differ from their LINSTOR node names, as"
                . " pve-node=linstor-node pairs, comma-separated (e.g."
                . " pve1=pve1.example.org). Wins over linstor-search-domain.",
            type => 'string',
        },
        'linstor-search-domain' => {
            description => "DNS domain appended to the PVE node name to form its LINSTOR node"
                . " name, for nodes registered in LINSTOR by their FQDN (linstor-proxmox's"
                . " searchdomain).",
            type => 'string',
        },
        'linstor-agent-socket' => {
            description => "Path of the linstor-virt agent's unix socket (default"
                . " /run/linstor-virt/agent.sock). Without a listening agent each call runs the"
                . " linstor-virt command once instead.",
            type => 'string',
            format => 'pve-storage-path',
        },
    };
}

# Nothing is required: a required option that is missing makes PVE drop the whole section with an
# entry that breaks writing storage.cfg back (see the reference, section 2). The TypeScript side
# reports missing or contradictory settings with a message naming the key.
sub options {
    my %own = map { $_ => { optional => 1 } } keys %{ __PACKAGE__->properties() };
    return {
        %own,
        content => { optional => 1 },
        nodes => { optional => 1 },
        disable => { optional => 1 },
        shared => { optional => 1 },
    };
}

# ---------------------------------------------------------------------------------------------
# Names (pure; plugins/proxmox/CONTRACT.md, vectors in test/fixtures/proxmox/volnames.json)

my $VMID_RE = qr/[1-9][0-9]{0,8}/;
my $REST_RE = qr/[A-Za-z0-9][A-Za-z0-9_.+-]*/;
my $LINSTOR_NAME_RE = qr/[A-Za-z_][A-Za-z0-9_-]{1,47}/;

# Returns { volname, name, vmid, basename, basevmid, isBase, resource } or undef. A linked clone is
# <base volname>/<own name> (PVE's RBD and ZFS convention): basename and basevmid name its base,
# so PVE's volume_is_base_and_used refuses to free a base that clones use. \z, not $, so a
# trailing newline never passes. Every returned string comes from a regex capture, which also
# untaints it for PVE's taint mode.
sub _parse_name {
    my ($volname) = @_;
    return undef if !defined($volname);
    my ($name, $vmid, $is_base, $pm_resource, $basename, $basevmid);
    if ($volname =~ m/^((pm-[0-9a-f]{8})_($VMID_RE))\z/) {
        ($name, $pm_resource, $vmid, $is_base) = ($1, $2, $3, 0);
    } elsif ($volname =~ m/^(?:(base-($VMID_RE)-$REST_RE)\/)?((vm|base)-($VMID_RE)-$REST_RE)\z/) {
        ($basename, $basevmid, $name, $vmid, $is_base) = ($1, $2, $3, $5, $4 eq 'base' ? 1 : 0);
    } elsif ($volname =~ m/^(subvol-($VMID_RE)-disk-[0-9]+)\z/) {
        ($name, $vmid, $is_base) = ($1, $2, 0);
    } else {
        return undef;
    }
    my $resource = $pm_resource // _linstor_name($name) // ('lv-' . _sha32($name));
    return {
        volname => defined($basename) ? "$basename/$name" : $name,
        name => $name,
        vmid => $vmid,
        basename => $basename,
        basevmid => $basevmid,
        isBase => $is_base,
        resource => $resource,
    };
}

sub _linstor_name {
    my ($candidate) = @_;
    return $candidate =~ m/^($LINSTOR_NAME_RE)\z/ ? $1 : undef;
}

sub _sha32 {
    my ($text) = @_;
    my $bytes = $text;
    utf8::encode($bytes) if utf8::is_utf8($bytes);
    # A hex digest is safe whatever went in: untaint it (snapshot names come from requests).
    my ($hex) = sha256_hex($bytes) =~ m/^([0-9a-f]{32})/;
    return $hex;
}

# snap_<rsc>_<snap> only where that cannot be another pair's name in any case: the resource name
# without '_' and neither part with an upper-case letter; else lvs- and a hash of the exact pair.
sub _snapshot_resource {
    my ($resource, $snap) = @_;
    if ($resource =~ m/^[a-z0-9-]+\z/ && $snap =~ m/^[a-z0-9_-]+\z/) {
        my $plain = _linstor_name("snap_${resource}_$snap");
        return $plain if defined($plain);
    }
    return 'lvs-' . _sha32("$resource/$snap");
}

sub _has_value {
    my ($v) = @_;
    return defined($v) && $v ne '';
}

sub _parse_or_die {
    my ($volname) = @_;
    my $p = _parse_name($volname);
    die "linstor-virt: unable to parse volume name '" . ($volname // '') . "'\n" if !$p;
    return $p;
}

sub _device_root {
    my $root = $ENV{LINSTOR_VIRT_DEVICE_ROOT};
    return '' if !defined($root) || $root eq '';
    die "linstor-virt: LINSTOR_VIRT_DEVICE_ROOT must be an absolute path\n"
        if $root !~ m{^(/[^\0\n]*?)/*\z};
    return $1;
}

sub parse_volname {
    my ($class, $volname) = @_;
    my $p = _parse_or_die($volname);
    return ('images', $p->{name}, $p->{vmid}, $p->{basename}, $p->{basevmid}, $p->{isBase}, 'raw');
}

sub filesystem_path {
    my ($class, $scfg, $volname, $snapname) = @_;
    my $p = _parse_or_die($volname);
    my $resource = $p->{resource};
    $resource = _snapshot_resource($resource, $snapname) if _has_value($snapname);
    my $path = _device_root() . "/dev/drbd/by-res/$resource/0";
    return wantarray ? ($path, $p->{vmid}, 'images') : $path;
}

sub path {
    my ($class, $scfg, $volname, $storeid, $snapname) = @_;
    return $class->filesystem_path($scfg, $volname, $snapname);
}

# Which volumes support what: `current` is a normal volume, `base` a template's base image, `snap`
# a snapshot of either. Snapshots of bases are refused (a template never changes); linked clones
# come from bases and snapshots; only full copies work from all three. sparseinit stays off since
# a new DRBD device is not guaranteed to read back zeros everywhere.
my %FEATURES = (
    snapshot => { current => 1 },
    clone => { base => 1, snap => 1 },
    template => { current => 1 },
    copy => { base => 1, current => 1, snap => 1 },
    rename => { current => 1 },
);

sub volume_has_feature {
    my ($class, $scfg, $feature, $storeid, $volname, $snapname, $running, $opts) = @_;
    my $p = _parse_or_die($volname);
    my $key = _has_value($snapname) ? 'snap' : $p->{isBase} ? 'base' : 'current';
    my $which = defined($feature) ? $FEATURES{$feature} : undef;
    return $which && $which->{$key} ? 1 : 0;
}

# PVE calls check_connection before every activate_storage. activate_storage asks the program
# anyway, so a second round trip would only double the cost on pvestatd's 10 s path.
sub check_connection {
    my ($class, $storeid, $scfg) = @_;
    return 1;
}

sub get_formats {
    my ($class, $scfg, $storeid) = @_;
    return { default => 'raw', valid => { raw => 1 } };
}

# ---------------------------------------------------------------------------------------------
# Transport

sub _deadline_ms {
    my ($operation) = @_;
    my $ms = $DEADLINE_MS{$operation} // DEFAULT_DEADLINE_MS;
    my $scale = $ENV{LINSTOR_VIRT_DEADLINE_SCALE};
    if (defined($scale) && $scale =~ m/^(?:\d+\.?\d*|\.\d+)\z/ && $scale > 0) {
        $ms = int($ms * $scale);
        $ms = 1 if $ms < 1;
    }
    return $ms;
}

# An absolute path from the environment or storage.cfg, untainted (PVE daemons run with -T).
sub _abs_path {
    my ($value, $what) = @_;
    die "linstor-virt: $what must be an absolute path\n" if $value !~ m{^(/[^\0\n]*)\z};
    return $1;
}

sub _socket_path {
    my ($scfg) = @_;
    my $p = $scfg->{'linstor-agent-socket'};
    return _abs_path($p, 'linstor-agent-socket') if _has_value($p);
    $p = $ENV{LINSTOR_VIRT_AGENT_SOCKET};
    return _abs_path($p, 'LINSTOR_VIRT_AGENT_SOCKET') if _has_value($p);
    return DEFAULT_SOCKET;
}

sub _storeid {
    my ($storeid) = @_;
    die "linstor-virt: invalid storage ID '" . ($storeid // '') . "'\n"
        if !defined($storeid) || $storeid !~ m/^([a-z][a-z0-9\-_.]*[a-z0-9])\z/i;
    return $1;
}

sub _token_dir {
    my $priv = $ENV{LINSTOR_VIRT_PVE_PRIV_DIR};
    $priv = _has_value($priv) ? _abs_path($priv, 'LINSTOR_VIRT_PVE_PRIV_DIR') : DEFAULT_PRIV_DIR;
    return "$priv/storage";
}

sub _token_file {
    my ($storeid) = @_;
    return _token_dir() . '/' . _storeid($storeid) . '.linstor-token';
}

# The program validates the settings; here they only get JSON types matching what they mean, so
# the request does not depend on how Perl last used each scalar: integers and booleans (0/1) as
# numbers, everything else as strings; content and nodes stay the hashes PVE parsed them into.
my %NUMERIC_KEYS = map { $_ => 1 }
    qw(linstor-place-count linstor-status-cache linstor-prefer-local linstor-exact-size disable shared);

sub _plain_value {
    my ($key, $value) = @_;
    return undef if !defined($value);
    if (ref($value) eq 'HASH') {
        return { map { $_ => _plain_value('', $value->{$_}) } keys %$value };
    }
    if (ref($value) eq 'ARRAY') {
        return [map { _plain_value('', $_) } @$value];
    }
    return $value if ref($value);    # JSON booleans
    return $value + 0 if ($NUMERIC_KEYS{$key} || $key eq '') && $value =~ m/^-?[0-9]+\z/;
    return "$value";
}

sub _config {
    my ($storeid, $scfg) = @_;
    my %section;
    for my $key (keys %{ $scfg // {} }) {
        # The type is implied; the token never travels (the program reads tokenFile).
        next if $key eq 'type' || $key eq 'linstor-token';
        $section{$key} = _plain_value($key, $scfg->{$key});
    }
    my $config = {
        storeid => "$storeid",
        node => '' . PVE::INotify::nodename(),
        scfg => \%section,
    };
    my $token_file = _token_file($storeid);
    $config->{tokenFile} = $token_file if -e $token_file;
    $config->{deviceRoot} = _device_root() if _has_value($ENV{LINSTOR_VIRT_DEVICE_ROOT});
    return $config;
}

sub _now {
    return Time::HiRes::time();
}

# One request, one reply hash. Dies (one line) only when no reply could be had.
sub _request {
    my ($storeid, $scfg, $operation, $arguments, $config_scfg) = @_;
    my $deadline_ms = _deadline_ms($operation);
    my $request = {
        v => 1,
        platform => 'proxmox',
        operation => $operation,
        deadlineMs => $deadline_ms,
        arguments => $arguments,
        config => _config($storeid, $config_scfg // $scfg),
    };
    my $body = $JSON_OUT->encode($request);
    my $until = _now() + ($deadline_ms + GRACE_MS) / 1000;
    my $socket = _socket_path($scfg);

    # A closed peer must give EPIPE, not kill the PVE worker.
    local $SIG{PIPE} = 'IGNORE';
    my $reply = _via_agent($socket, $body, $until, $operation, $deadline_ms);
    $reply = _via_one_shot($socket, $body, $until, $operation, $deadline_ms) if !defined($reply);
    die "linstor-virt: the reply to '$operation' is not a call-protocol reply\n"
        if ref($reply) ne 'HASH';
    return $reply;
}

# An error reply becomes `die "<message>\n"` (the trailing newline keeps Perl from appending
# "at ... line N", so task logs show the message alone).
sub _error_text {
    my ($operation, $error) = @_;
    my $message = ref($error) eq 'HASH' ? $error->{message} : $error;
    $message = "linstor-virt: '$operation' failed" if !defined($message) || ref($message) || $message eq '';
    $message =~ s/\s+\z//;
    utf8::encode($message) if utf8::is_utf8($message);
    return "$message\n";
}

sub _call {
    my ($storeid, $scfg, $operation, $arguments, $config_scfg) = @_;
    my $reply = _request($storeid, $scfg, $operation, $arguments, $config_scfg);
    die _error_text($operation, $reply->{error}) if defined($reply->{error});
    die "linstor-virt: the reply to '$operation' has neither result nor error\n"
        if !exists($reply->{result});
    return $reply->{result};
}

sub _result_hash {
    my ($operation, $result) = @_;
    die "linstor-virt: the reply to '$operation' is not an object\n" if ref($result) ne 'HASH';
    return $result;
}

# undef: the agent is not there (socket missing or refusing), so the caller falls back.
sub _via_agent {
    my ($path, $body, $until, $operation, $deadline_ms) = @_;
    return undef if !-e $path;

    my $sock;
    if (!socket($sock, PF_UNIX, SOCK_STREAM, 0)) {
        die "linstor-virt: cannot create a unix socket: $!\n";
    }
    # A blocking connect to a unix socket waits while the listener's backlog is full; the send
    # timeout bounds that wait.
    my $left = $until - _now();
    $left = 0.001 if $left < 0.001;
    setsockopt($sock, SOL_SOCKET, SO_SNDTIMEO, pack('l!l!', int($left), int(($left - int($left)) * 1_000_000)));
    if (!connect($sock, pack_sockaddr_un($path))) {
        my $errno = $! + 0;
        my $text = "$!";
        close($sock);
        # The same rule as cli/agent/client.ts: a missing, dead or forbidden socket means "no agent".
        return undef if $errno == ENOENT || $errno == ECONNREFUSED || $errno == EACCES;
        die "linstor-virt: cannot connect to the agent at $path: $text\n";
    }
    $sock->blocking(0);

    my $head = "POST /v1/call HTTP/1.1\r\n"
        . "Host: localhost\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n"
        . "Connection: close\r\n\r\n";
    my $out = $head . $body;
    my $timeout_text = sub {
        "linstor-virt: no reply from the agent at $path to '$operation' within "
            . ($deadline_ms + GRACE_MS) . " ms\n";
    };

    my $select = IO::Select->new($sock);
    my $off = 0;
    while ($off < length($out)) {
        my $wait = $until - _now();
        die $timeout_text->() if $wait <= 0;
        next if !$select->can_write($wait);
        my $n = syswrite($sock, $out, length($out) - $off, $off);
        if (!defined($n)) {
            next if $!{EINTR} || $!{EAGAIN} || $!{EWOULDBLOCK};
            # The agent may answer (e.g. 413) and close before reading everything: read that reply.
            last if $!{EPIPE} || $!{ECONNRESET};
            die "linstor-virt: cannot send to the agent at $path: $!\n";
        }
        $off += $n;
    }

    my $in = '';
    my $expected;
    while (1) {
        my $wait = $until - _now();
        die $timeout_text->() if $wait <= 0;
        next if !$select->can_read($wait);
        my $n = sysread($sock, $in, 65536, length($in));
        if (!defined($n)) {
            next if $!{EINTR} || $!{EAGAIN} || $!{EWOULDBLOCK};
            last if $!{ECONNRESET} && length($in);
            die "linstor-virt: cannot read the reply of the agent at $path: $!\n";
        }
        last if $n == 0;
        if (!defined($expected) && $in =~ m/\r\n\r\n/) {
            my $end = index($in, "\r\n\r\n") + 4;
            my $headers = substr($in, 0, $end);
            $expected = $headers =~ m/^content-length:\s*(\d+)\s*$/im ? $end + $1 : -1;
        }
        last if defined($expected) && $expected >= 0 && length($in) >= $expected;
    }
    close($sock);
    return _parse_http_reply($path, $operation, $in);
}

sub _parse_http_reply {
    my ($path, $operation, $raw) = @_;
    die "linstor-virt: the agent at $path closed the connection without replying to '$operation'\n"
        if $raw eq '';
    my $end = index($raw, "\r\n\r\n");
    my ($status) = $raw =~ m{^HTTP/1\.[01] (\d{3})};
    die "linstor-virt: the agent at $path sent no valid HTTP reply to '$operation'\n"
        if $end < 0 || !defined($status);
    my $headers = substr($raw, 0, $end + 2);
    my $body = substr($raw, $end + 4);
    if ($headers =~ m/^content-length:\s*(\d+)\s*$/im) {
        die "linstor-virt: the reply of the agent at $path to '$operation' was cut short\n"
            if length($body) < $1;
        $body = substr($body, 0, $1);
    } elsif ($headers =~ m/^transfer-encoding:\s*chunked\s*$/im) {
        my $decoded = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $size = hex($1);
            last if $size == 0;
            $decoded .= substr($body, 0, $size, '');
            $body =~ s/^\r\n//;
        }
        $body = $decoded;
    }
    my $reply = eval { $JSON_IN->decode($body) };
    die "linstor-virt: the agent at $path answered '$operation' with HTTP $status and no call-protocol"
        . " reply\n" if ref($reply) ne 'HASH';
    return $reply;
}

sub _exe_path {
    my ($env, $default) = @_;
    my $v = $ENV{$env};
    return _has_value($v) ? _abs_path($v, $env) : $default;
}

# The one-shot transport: `node <cli> call --stdin`, request on stdin, one reply line on stdout.
# Forked and exec'ed with an argument list (no shell). The child is killed when it outlives the
# deadline, and also when anything (e.g. PVE's lock alarm) interrupts the wait, so no node process
# is left behind by a call that has already failed.
sub _via_one_shot {
    my ($socket, $body, $until, $operation, $deadline_ms) = @_;
    my $node = _exe_path('LINSTOR_VIRT_NODE', DEFAULT_NODE);
    my $cli = _exe_path('LINSTOR_VIRT_CLI', DEFAULT_CLI);
    die "linstor-virt: the agent socket $socket is not available and $node is not executable"
        . " (it comes with the nodejs package, 18.19 or later)\n" if !-x $node;
    die "linstor-virt: the agent socket $socket is not available and the one-shot CLI $cli does not"
        . " exist\n" if !-e $cli;

    my ($child_in, $to_child, $from_child, $child_out, $err_from_child, $child_err);
    pipe($child_in, $to_child) or die "linstor-virt: pipe failed: $!\n";
    pipe($from_child, $child_out) or die "linstor-virt: pipe failed: $!\n";
    pipe($err_from_child, $child_err) or die "linstor-virt: pipe failed: $!\n";

    my $pid = fork();
    die "linstor-virt: cannot fork for the one-shot call: $!\n" if !defined($pid);
    if ($pid == 0) {
        eval {
            close($to_child);
            close($from_child);
            close($err_from_child);
            POSIX::dup2(fileno($child_in), 0);
            POSIX::dup2(fileno($child_out), 1);
            POSIX::dup2(fileno($child_err), 2);
            $SIG{$_} = 'DEFAULT' for qw(PIPE ALRM TERM INT HUP CHLD);
            if (${^TAINT}) {
                # exec checks the environment under -T; these only affect the child.
                delete @ENV{qw(IFS CDPATH ENV BASH_ENV)};
                ($ENV{PATH}) = ($ENV{PATH} // '/usr/sbin:/usr/bin:/sbin:/bin') =~ m/^(.*)\z/s;
            }
            exec { $node } $node, $cli, 'call', '--stdin'
                or print STDERR "linstor-virt: cannot execute $node: $!\n";
        };
        POSIX::_exit(127);
    }
    close($child_in);
    close($child_out);
    close($child_err);
    $to_child->blocking(0);

    my ($out, $err) = ('', '');
    my $timed_out = 0;
    my $ok = eval {
        my $readers = IO::Select->new($from_child, $err_from_child);
        my $writers = IO::Select->new($to_child);
        my $off = 0;
        my $stdout_open = 1;
        while ($stdout_open) {
            my $wait = $until - _now();
            if ($wait <= 0) {
                $timed_out = 1;
                last;
            }
            my ($r, $w) = IO::Select->select($readers, $writers->count ? $writers : undef, undef, $wait);
            for my $fh (@{ $w // [] }) {
                my $n = syswrite($fh, $body, length($body) - $off, $off);
                if (defined($n)) {
                    $off += $n;
                } elsif (!($!{EINTR} || $!{EAGAIN} || $!{EWOULDBLOCK})) {
                    $off = length($body);    # the child stopped reading; its reply tells why
                }
                if ($off >= length($body)) {
                    $writers->remove($fh);
                    close($fh);
                }
            }
            for my $fh (@{ $r // [] }) {
                my $buf = '';
                my $n = sysread($fh, $buf, 65536);
                next if !defined($n) && ($!{EINTR} || $!{EAGAIN});
                if (!$n) {
                    $readers->remove($fh);
                    $stdout_open = 0 if $fh == $from_child;
                    next;
                }
                if ($fh == $from_child) {
                    $out .= $buf;
                } elsif (length($err) < 65536) {
                    $err .= $buf;
                }
            }
        }
        1;
    };
    my $failure = $@;
    close($to_child) if defined(fileno($to_child));
    if (!$ok || $timed_out) {
        _stop_child($pid);
        close($from_child);
        close($err_from_child);
        die $failure if !$ok;
        die "linstor-virt: the one-shot call '$operation' ($cli) did not answer within "
            . ($deadline_ms + GRACE_MS) . " ms and was stopped\n";
    }
    close($from_child);
    close($err_from_child);
    my $status = _reap($pid, $until);

    my ($line) = grep { m/\S/ } reverse split(/\n/, $out);
    my $reply = defined($line) ? eval { $JSON_IN->decode($line) } : undef;
    if (ref($reply) ne 'HASH') {
        my ($first) = grep { m/\S/ } split(/\n/, $err);
        my $why = defined($first) ? ": $first" : '';
        $why = substr($why, 0, 300);
        die "linstor-virt: the one-shot call '$operation' ($node $cli) gave no reply"
            . (defined($status) ? " (exit status $status)" : '') . "$why\n";
    }
    return $reply;
}

# Waits for the child until the deadline; stops it if it lingers. Returns its exit status if known.
sub _reap {
    my ($pid, $until) = @_;
    while (1) {
        my $got = waitpid($pid, POSIX::WNOHANG());
        return $? >> 8 if $got == $pid;
        return undef if $got < 0;    # already reaped (SIGCHLD ignored by the caller)
        last if _now() >= $until;
        Time::HiRes::sleep(0.01);
    }
    _stop_child($pid);
    return undef;
}

sub _stop_child {
    my ($pid) = @_;
    kill('TERM', $pid);
    my $until = _now() + 0.5;
    while (_now() < $until) {
        my $got = waitpid($pid, POSIX::WNOHANG());
        return if $got == $pid || $got < 0;
        Time::HiRes::sleep(0.01);
    }
    kill('KILL', $pid);
    waitpid($pid, 0);
}

# ---------------------------------------------------------------------------------------------
# Argument helpers

sub _json_bool {
    my ($v) = @_;
    return $v ? JSON::PP::true : JSON::PP::false;
}

sub _number_or_null {
    my ($v) = @_;
    return undef if !_has_value($v);
    return $v =~ m/^-?[0-9]+\z/ ? $v + 0 : "$v";    # anything odd is the program's to reject
}

sub _string_or_null {
    my ($v) = @_;
    return _has_value($v) ? "$v" : undef;
}

sub _volname_result {
    my ($operation, $result) = @_;
    my $volname = ref($result) eq 'HASH' ? $result->{volname} : undef;
    my $p = _parse_name($volname);
    die "linstor-virt: the reply to '$operation' names no valid volume\n" if !$p;
    return $p->{volname};
}

sub _path_result {
    my ($operation, $result) = @_;
    my $path = ref($result) eq 'HASH' ? $result->{path} : undef;
    die "linstor-virt: the reply to '$operation' has no absolute device path\n"
        if !defined($path) || ref($path) || $path !~ m{^(/[^\0\n]*)\z};
    return $1;    # untainted: PVE hands it to QEMU and mount
}

# ---------------------------------------------------------------------------------------------
# Storage

sub activate_storage {
    my ($class, $storeid, $scfg, $cache) = @_;
    _call($storeid, $scfg, 'activate_storage', {});
    return 1;
}

sub status {
    my ($class, $storeid, $scfg, $cache) = @_;
    my $r = _result_hash('status', _call($storeid, $scfg, 'status', {}));
    return ($r->{total}, $r->{avail}, $r->{used}, $r->{active} ? 1 : 0);
}

# ---------------------------------------------------------------------------------------------
# Volumes

sub alloc_image {
    my ($class, $storeid, $scfg, $vmid, $fmt, $name, $size) = @_;
    my $r = _call($storeid, $scfg, 'alloc_image', {
        vmid => _number_or_null($vmid),
        fmt => _string_or_null($fmt),
        name => _string_or_null($name),
        sizeKib => _number_or_null($size),
    });
    return _volname_result('alloc_image', $r);
}

sub free_image {
    my ($class, $storeid, $scfg, $volname, $isBase, $format) = @_;
    my $p = _parse_or_die($volname);
    _call($storeid, $scfg, 'free_image', { volname => $p->{volname}, isBase => _json_bool($isBase) });
    return undef;
}

sub list_images {
    my ($class, $storeid, $scfg, $vmid, $vollist, $cache) = @_;
    my $r = _call($storeid, $scfg, 'list_images', {
        vmid => _number_or_null($vmid),
        vollist => ref($vollist) eq 'ARRAY' ? [map { "$_" } @$vollist] : undef,
    });
    die "linstor-virt: the reply to 'list_images' is not a list\n" if ref($r) ne 'ARRAY';
    return $r;
}

sub activate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache, $hints) = @_;
    my $p = _parse_or_die($volname);
    _call($storeid, $scfg, 'activate_volume', {
        volname => $p->{volname},
        snapname => _string_or_null($snapname),
        hints => ref($hints) eq 'HASH' ? $hints : undef,
    });
    return 1;
}

sub deactivate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache) = @_;
    my $p = _parse_or_die($volname);
    _call($storeid, $scfg, 'deactivate_volume', { volname => $p->{volname}, snapname => _string_or_null($snapname) });
    return 1;
}

sub map_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $hints) = @_;
    my $p = _parse_or_die($volname);
    my $r = _call($storeid, $scfg, 'map_volume', { volname => $p->{volname}, snapname => _string_or_null($snapname) });
    return _path_result('map_volume', $r);
}

sub unmap_volume {
    my ($class, $storeid, $scfg, $volname, $snapname) = @_;
    my $p = _parse_or_die($volname);
    _call($storeid, $scfg, 'unmap_volume', { volname => $p->{volname}, snapname => _string_or_null($snapname) });
    return 1;
}

sub volume_size_info {
    my ($class, $scfg, $storeid, $volname, $timeout) = @_;
    my $p = _parse_or_die($volname);
    my $r = _result_hash('volume_size_info', _call($storeid, $scfg, 'volume_size_info', { volname => $p->{volname} }));
    my $size = $r->{size};
    # List context (size, format, used, parent) as PVE's block plugins answer it (LVM: used 0)
    # unless the program reports what is used.
    return wantarray ? ($size, 'raw', $r->{used} // 0, undef) : $size;
}

sub volume_resize {
    my ($class, $scfg, $storeid, $volname, $size, $running, $snapname) = @_;
    my $p = _parse_or_die($volname);
    # API 15 passes $snapname only for volume chains, which this storage does not have.
    die "linstor-virt: resizing a snapshot is not supported\n" if _has_value($snapname);
    _call($storeid, $scfg, 'volume_resize', {
        volname => $p->{volname},
        sizeBytes => _number_or_null($size),
        running => _json_bool($running),
    });
    return 1;
}

sub volume_snapshot {
    my ($class, $scfg, $storeid, $volname, $snap) = @_;
    my $p = _parse_or_die($volname);
    _call($storeid, $scfg, 'volume_snapshot', { volname => $p->{volname}, snap => _string_or_null($snap) });
    return 1;
}

sub volume_snapshot_delete {
    my ($class, $scfg, $storeid, $volname, $snap, $running) = @_;
    my $p = _parse_or_die($volname);
    _call($storeid, $scfg, 'volume_snapshot_delete', {
        volname => $p->{volname},
        snap => _string_or_null($snap),
        running => _json_bool($running),
    });
    return 1;
}

sub volume_rollback_is_possible {
    my ($class, $scfg, $storeid, $volname, $snap, $blockers) = @_;
    my $p = _parse_or_die($volname);
    my $r = _result_hash('volume_rollback_is_possible',
        _call($storeid, $scfg, 'volume_rollback_is_possible', { volname => $p->{volname}, snap => _string_or_null($snap) }));
    return 1 if $r->{possible};
    my @found = ref($r->{blockers}) eq 'ARRAY' ? map { "$_" } @{ $r->{blockers} } : ();
    push @$blockers, @found if ref($blockers) eq 'ARRAY';
    my $message = $r->{message};
    if (!_has_value($message)) {
        $message = "can't rollback '$p->{volname}' to snapshot '" . ($snap // '') . "'"
            . (@found ? ': newer snapshots exist: ' . join(', ', @found) : '');
    }
    die _error_text('volume_rollback_is_possible', $message);
}

sub volume_snapshot_rollback {
    my ($class, $scfg, $storeid, $volname, $snap) = @_;
    my $p = _parse_or_die($volname);
    _call($storeid, $scfg, 'volume_snapshot_rollback', { volname => $p->{volname}, snap => _string_or_null($snap) });
    return 1;
}

sub volume_snapshot_info {
    my ($class, $scfg, $storeid, $volname) = @_;
    my $p = _parse_or_die($volname);
    return _result_hash('volume_snapshot_info', _call($storeid, $scfg, 'volume_snapshot_info', { volname => $p->{volname} }));
}

sub clone_image {
    my ($class, $scfg, $storeid, $volname, $vmid, $snap) = @_;
    my $p = _parse_or_die($volname);
    my $r = _call($storeid, $scfg, 'clone_image', {
        volname => $p->{volname},
        vmid => _number_or_null($vmid),
        snap => _string_or_null($snap),
    });
    return _volname_result('clone_image', $r);
}

sub create_base {
    my ($class, $storeid, $scfg, $volname) = @_;
    my $p = _parse_or_die($volname);
    my $r = _call($storeid, $scfg, 'create_base', { volname => $p->{volname} });
    return _volname_result('create_base', $r);
}

sub rename_volume {
    my ($class, $scfg, $storeid, $source_volname, $target_vmid, $target_volname) = @_;
    my $p = _parse_or_die($source_volname);
    my $r = _call($storeid, $scfg, 'rename_volume', {
        volname => $p->{volname},
        targetVmid => _number_or_null($target_vmid),
        targetVolname => _string_or_null($target_volname),
    });
    return _storeid($storeid) . ':' . _volname_result('rename_volume', $r);
}

# ---------------------------------------------------------------------------------------------
# Export and import (raw+size only: an 8-byte little-endian size, then the raw bytes). The program
# prepares the device and says where it is; Perl only moves the bytes.

sub _wants_snapshots {
    my ($with_snapshots) = @_;
    return scalar(@$with_snapshots) > 0 if ref($with_snapshots) eq 'ARRAY';
    return $with_snapshots ? 1 : 0;
}

sub _stream_formats {
    my ($snapshot, $base_snapshot, $with_snapshots) = @_;
    return () if _has_value($snapshot) || _has_value($base_snapshot) || _wants_snapshots($with_snapshots);
    return ('raw+size');
}

sub volume_export_formats {
    my ($class, $scfg, $storeid, $volname, $snapshot, $base_snapshot, $with_snapshots) = @_;
    return _stream_formats($snapshot, $base_snapshot, $with_snapshots);
}

sub volume_import_formats {
    my ($class, $scfg, $storeid, $volname, $snapshot, $base_snapshot, $with_snapshots) = @_;
    return _stream_formats($snapshot, $base_snapshot, $with_snapshots);
}

sub _write_all {
    my ($fh, $data, $what) = @_;
    my $off = 0;
    while ($off < length($data)) {
        my $n = syswrite($fh, $data, length($data) - $off, $off);
        if (!defined($n)) {
            next if $!{EINTR};
            if ($!{EAGAIN} || $!{EWOULDBLOCK}) {
                IO::Select->new($fh)->can_write(1);
                next;
            }
            die "linstor-virt: cannot write $what: $!\n";
        }
        $off += $n;
    }
}

sub _read_some {
    my ($fh, $len, $what) = @_;
    while (1) {
        my $buf = '';
        my $n = sysread($fh, $buf, $len);
        return $buf if defined($n);
        next if $!{EINTR};
        if ($!{EAGAIN} || $!{EWOULDBLOCK}) {
            IO::Select->new($fh)->can_read(1);
            next;
        }
        die "linstor-virt: cannot read $what: $!\n";
    }
}

sub _stream_size {
    my ($operation, $size) = @_;
    die "linstor-virt: the reply to '$operation' has no valid size\n"
        if !defined($size) || ref($size) || $size !~ m/^([0-9]+)\z/;
    return $1 + 0;
}

sub _check_stream_args {
    my ($what, $format, $base_snapshot, $with_snapshots) = @_;
    die "linstor-virt: $what format '" . ($format // '') . "' is not supported (only raw+size)\n"
        if !defined($format) || $format ne 'raw+size';
    die "linstor-virt: incremental $what (base snapshot) is not supported\n" if _has_value($base_snapshot);
    die "linstor-virt: $what with snapshots is not supported\n" if _wants_snapshots($with_snapshots);
}

sub volume_export {
    my ($class, $scfg, $storeid, $fh, $volname, $format, $snapshot, $base_snapshot, $with_snapshots) = @_;
    _check_stream_args('export', $format, $base_snapshot, $with_snapshots);
    my $p = _parse_or_die($volname);
    my $begin = _result_hash('volume_export_begin', _call($storeid, $scfg, 'volume_export_begin', {
        volname => $p->{volname},
        snapname => _string_or_null($snapshot),
    }));
    my $handle = $begin->{handle};
    my $ok = eval {
        my $size = _stream_size('volume_export_begin', $begin->{size});
        my $path = _path_result('volume_export_begin', $begin);
        binmode($fh);
        sysopen(my $in, $path, O_RDONLY) or die "linstor-virt: cannot open $path: $!\n";
        _write_all($fh, pack('Q<', $size), 'the export stream');
        my $left = $size;
        while ($left > 0) {
            my $chunk = _read_some($in, $left < COPY_BUFFER ? $left : COPY_BUFFER, $path);
            die "linstor-virt: $path ended after " . ($size - $left) . " of $size bytes\n"
                if length($chunk) == 0;
            _write_all($fh, $chunk, 'the export stream');
            $left -= length($chunk);
        }
        close($in);
        1;
    };
    my $failure = $@;
    # Always end what began, so the program can release the device it opened for the export.
    my $ended = eval { _call($storeid, $scfg, 'volume_export_end', { volname => $p->{volname}, handle => $handle }); 1 };
    my $end_failure = $@;
    die $failure if !$ok;
    die $end_failure if !$ended;
    return 1;
}

sub volume_import {
    my ($class, $scfg, $storeid, $fh, $volname, $format, $snapshot, $base_snapshot, $with_snapshots,
        $allow_rename) = @_;
    _check_stream_args('import', $format, $base_snapshot, $with_snapshots);
    die "linstor-virt: importing a snapshot is not supported\n" if _has_value($snapshot);
    my $p = _parse_or_die($volname);
    binmode($fh);
    my $header = '';
    while (length($header) < 8) {
        my $chunk = _read_some($fh, 8 - length($header), 'the import stream');
        last if length($chunk) == 0;
        $header .= $chunk;
    }
    die "linstor-virt: the import stream ended before its 8-byte size header\n" if length($header) < 8;
    my $size = unpack('Q<', $header);

    # The volume is made under PVE's storage lock, as PVE's own plugins import and as vdisk_alloc
    # allocates: no other node picks the same name meanwhile (LINSTOR would hand both the one
    # volume). The bytes are copied after the lock is released.
    my $begin = $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
        return _result_hash('volume_import_begin', _call($storeid, $scfg, 'volume_import_begin', {
            volname => $p->{volname},
            size => $size + 0,
            allowRename => _json_bool($allow_rename),
        }));
    });
    my $handle = $begin->{handle};
    my $target;
    my $complete = eval {
        $target = _volname_result('volume_import_begin', $begin);
        my $path = _path_result('volume_import_begin', $begin);
        sysopen(my $out, $path, O_WRONLY) or die "linstor-virt: cannot open $path: $!\n";
        my $left = $size;
        while ($left > 0) {
            my $chunk = _read_some($fh, $left < COPY_BUFFER ? $left : COPY_BUFFER, 'the import stream');
            die "linstor-virt: the import stream of '$p->{volname}' ended after " . ($size - $left)
                . " of $size bytes\n" if length($chunk) == 0;
            _write_all($out, $chunk, $path);
            $left -= length($chunk);
        }
        # Durable before the program is told the import is complete.
        $out->sync() or die "linstor-virt: cannot flush $path: $!\n";
        close($out) or die "linstor-virt: cannot close $path: $!\n";
        1;
    };
    my $failure = $@;
    my $ended = eval {
        _call($storeid, $scfg, 'volume_import_end', {
            volname => $target // $p->{volname},
            handle => $handle,
            ok => _json_bool($complete),
        });
        1;
    };
    my $end_failure = $@;
    die $failure if !$complete;
    die $end_failure if !$ended;
    return _storeid($storeid) . ":$target";
}

# ---------------------------------------------------------------------------------------------
# Hooks: the program checks the configuration (check_config); the token is kept on pmxcfs in
# /etc/pve/priv/storage/<storeid>.linstor-token (root only, replicated to every node) and only its
# presence is ever sent.

# Keys PVE dropped from this storage's section while parsing storage.cfg (misspelt linstor-* keys,
# linstor-proxmox's options): the parser records them in the config's `errors`. The program says
# which known key each is nearest to.
sub _dropped_keys {
    my ($storeid) = @_;
    my $cfg = eval { PVE::Storage::config() };
    return [] if ref($cfg) ne 'HASH' || ref($cfg->{errors}) ne 'ARRAY';
    my %seen;
    my @keys;
    for my $e (@{ $cfg->{errors} }) {
        next if ref($e) ne 'HASH' || !defined($e->{section}) || !defined($e->{key});
        next if $e->{section} ne $storeid || $seen{ $e->{key} }++;
        push @keys, "$e->{key}";
    }
    return \@keys;
}

sub _check_config {
    my ($storeid, $scfg, $hook, $token_given) = @_;
    my $r = _call($storeid, $scfg, 'check_config', {
        hook => $hook,
        sensitive => $token_given ? { token => JSON::PP::true } : {},
        dropped => _dropped_keys($storeid),
    });
    # Warnings (keys nobody reads) go to the task log and the CLI; they do not stop the change.
    my $warnings = ref($r) eq 'HASH' && ref($r->{warnings}) eq 'ARRAY' ? $r->{warnings} : [];
    for my $w (@$warnings) {
        next if ref($w) || !defined($w) || $w eq '';
        my $text = "$w";
        utf8::encode($text) if utf8::is_utf8($text);
        warn "linstor-virt: WARNING: $text\n";
    }
}

sub _store_token {
    my ($storeid, $token) = @_;
    my $dir = _token_dir();
    my $file = _token_file($storeid);
    # Only storage/ itself is created: a missing /etc/pve/priv means pmxcfs is not mounted, and
    # the token must not land in the directory underneath.
    if (!-d $dir) {
        mkdir($dir, 0700) or $!{EEXIST} or die "linstor-virt: cannot create $dir: $!\n";
    }
    my $tmp = "$file.tmp.$$";
    unlink($tmp);
    my $data = "$token\n";
    utf8::encode($data) if utf8::is_utf8($data);
    # Written aside and renamed, so a reader never sees half a token.
    sysopen(my $fh, $tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)
        or die "linstor-virt: cannot write $tmp: $!\n";
    my $complete = (syswrite($fh, $data) // -1) == length($data);
    $complete = close($fh) && $complete;
    # rename in a statement of its own: under -T, touching the (tainted) token earlier in the same
    # statement would make Perl refuse the rename.
    my $renamed = $complete && rename($tmp, $file);
    if (!$renamed) {
        my $why = "$!";
        unlink($tmp);
        die "linstor-virt: cannot store the token in $file: $why\n";
    }
    chmod(0600, $file);
}

sub _remove_token {
    my ($storeid) = @_;
    my $file = _token_file($storeid);
    unlink($file) or $!{ENOENT} or die "linstor-virt: cannot remove $file: $!\n";
}

# The token to store, from PVE's sensitive parameters; on PVE before API 11 (no
# sensitive-properties) it arrives inside the section instead. Returns (action, token) with action
# 'store', 'remove' or '' (leave the file as it is).
sub _token_action {
    my ($sensitive, $scfg, $deleted) = @_;
    if ($sensitive && exists($sensitive->{'linstor-token'})) {
        my $t = $sensitive->{'linstor-token'};
        return _has_value($t) ? ('store', $t) : ('remove', undef);
    }
    return ('remove', undef) if $deleted;
    my $t = $scfg ? $scfg->{'linstor-token'} : undef;
    return _has_value($t) ? ('store', $t) : ('', undef);
}

sub _apply_token {
    my ($storeid, $action, $token) = @_;
    _store_token($storeid, $token) if $action eq 'store';
    _remove_token($storeid) if $action eq 'remove';
}

# The token the file holds now (undef: none).
sub _current_token {
    my ($storeid) = @_;
    open(my $fh, '<', _token_file($storeid)) or return undef;
    my $t = do { local $/; <$fh> };
    close($fh);
    return undef if !defined($t);
    $t =~ s/\n\z//;
    return $t;
}

# The check may have to ask a controller that answers only with the token (whether a resource
# group exists), so the new token is in place while it runs; when the check refuses, the file is
# put back as it was.
sub _check_with_token {
    my ($storeid, $action, $token, $check) = @_;
    my $before = $action ne '' ? _current_token($storeid) : undef;
    _apply_token($storeid, $action, $token);
    return if eval { $check->(); 1 };
    my $err = $@;
    if ($action ne '') {
        eval { defined($before) ? _store_token($storeid, $before) : _remove_token($storeid) };
        warn "linstor-virt: could not put the previous token of storage '$storeid' back: $@" if $@;
    }
    die $err;
}

sub on_add_hook {
    my ($class, $storeid, $scfg, %sensitive) = @_;
    my ($action, $token) = _token_action(\%sensitive, $scfg, 0);
    _check_with_token($storeid, $action, $token, sub { _check_config($storeid, $scfg, 'add', $action eq 'store') });
    return undef;
}

# API < 13: $scfg holds only the options being set. The program checks them over the section as
# storage.cfg has it now (PVE reads it under the same lock), so a check that needs the controller
# uses the storage's own linstor-controllers.
sub on_update_hook {
    my ($class, $storeid, $scfg, %sensitive) = @_;
    my ($action, $token) = _token_action(\%sensitive, $scfg, 0);
    my $current = eval { PVE::Storage::config()->{ids}->{$storeid} };
    my %after = (ref($current) eq 'HASH' ? %$current : (), %{ $scfg // {} });
    _check_with_token($storeid, $action, $token, sub { _check_config($storeid, \%after, 'update', $action eq 'store') });
    return undef;
}

# API 13+: the current section, the options being set and the ones being deleted. The program
# checks the section as it will be after the update.
sub on_update_hook_full {
    my ($class, $storeid, $scfg, $update, $delete, $sensitive) = @_;
    my @deleted = ref($delete) eq 'ARRAY' ? @$delete : ();
    my %after = (%{ $scfg // {} }, %{ $update // {} });
    delete @after{@deleted};
    my ($action, $token) = _token_action($sensitive, $update, scalar(grep { $_ eq 'linstor-token' } @deleted));
    _check_with_token($storeid, $action, $token, sub { _check_config($storeid, \%after, 'update', $action eq 'store') });
    return undef;
}

# A storage must stay removable when the program cannot be reached at all: a transport failure
# only warns. An error reply is the program's decision and stops the removal.
sub on_delete_hook {
    my ($class, $storeid, $scfg) = @_;
    my $reply = eval { _request($storeid, $scfg, 'check_config', { hook => 'delete', sensitive => {} }) };
    if (!$reply) {
        my $why = $@;
        $why =~ s/\s+\z//;
        warn "linstor-virt: could not check the removal of storage '$storeid' ($why); removing it anyway\n";
    } elsif (defined($reply->{error})) {
        die _error_text('check_config', $reply->{error});
    }
    _remove_token($storeid);
    return undef;
}

1;
