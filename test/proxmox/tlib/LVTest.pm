package LVTest;

# Helpers for the Perl tests of the Proxmox shim (test/proxmox/t): paths, temp dirs, running perl
# in a subprocess with the stand-ins, and a fake agent (LVTest::FakeAgent) on a unix socket.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use JSON::PP;
use POSIX ();

use base 'Exporter';
our @EXPORT_OK = qw(repo_root lib_dirs temp_dir run_cmd run_perl read_file write_file json with_fake_agent);

my $ROOT = abs_path(dirname(__FILE__) . '/../../..');

# Every test starts from a clean environment: settings of the shim or the stand-ins inherited from
# the caller's shell must not change what a test sees.
delete @ENV{ grep { m/^(?:LINSTOR_VIRT_|LV_)/ } keys %ENV };

sub repo_root { return $ROOT }

sub lib_dirs { return ("$ROOT/test/proxmox/lib", "$ROOT/plugins/proxmox/perl") }

sub temp_dir { return tempdir('lv-proxmox-XXXXXX', TMPDIR => 1, CLEANUP => 1) }

sub json { return JSON::PP->new->utf8->canonical->allow_nonref }

# A fake agent and the environment of node 'alpha' that reaches it: no one-shot CLI to fall back
# to (a fallback would fail loudly), the priv dir inside a fresh temp dir. Returns ($agent, $dir).
sub with_fake_agent {
    my $agent = LVTest::FakeAgent->start();
    my $dir = temp_dir();
    $ENV{LINSTOR_VIRT_AGENT_SOCKET} = $agent->socket_path();
    $ENV{LINSTOR_VIRT_CLI} = "$dir/no-such-cli.js";
    $ENV{LV_PVE_NODENAME} = 'alpha';
    $ENV{LINSTOR_VIRT_PVE_PRIV_DIR} = "$dir/priv";
    return ($agent, $dir);
}

sub read_file {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or die "read $path: $!\n";
    local $/;
    my $data = <$fh>;
    close($fh);
    return $data;
}

sub write_file {
    my ($path, $data, $mode) = @_;
    my $tmp = "$path.tmp$$";
    open(my $fh, '>:raw', $tmp) or die "write $tmp: $!\n";
    print $fh $data;
    close($fh);
    chmod($mode, $tmp) if defined($mode);
    rename($tmp, $path) or die "rename $tmp: $!\n";
}

# Runs a command (list, no shell) with extra environment and optional stdin text; returns
# { code, out, err }.
sub run_cmd {
    my ($cmd, %o) = @_;
    my $dir = temp_dir();
    write_file("$dir/in", $o{stdin} // '');
    my $pid = fork();
    die "fork: $!" if !defined($pid);
    if (!$pid) {
        open(STDIN, '<', "$dir/in") or POSIX::_exit(126);
        open(STDOUT, '>', "$dir/out") or POSIX::_exit(126);
        open(STDERR, '>', "$dir/err") or POSIX::_exit(126);
        for my $k (keys %{ $o{env} // {} }) {
            if (defined($o{env}->{$k})) { $ENV{$k} = $o{env}->{$k} } else { delete $ENV{$k} }
        }
        chdir($o{cwd}) if $o{cwd};
        exec { $cmd->[0] } @$cmd or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    return { code => $? >> 8, out => read_file("$dir/out"), err => read_file("$dir/err") };
}

# perl -I<stand-ins> -I<shim> -e CODE
sub run_perl {
    my ($code, %o) = @_;
    return run_cmd([$^X, (map { "-I$_" } lib_dirs()), '-e', $code], %o);
}

package LVTest::FakeAgent;

# A fake agent: a forked process on a unix socket answering canned replies per operation and
# recording every request (method, path, raw head and body, decoded request) as JSON lines.
#
# Replies (set_replies({ operation => spec, '*' => spec })), re-read on every request:
#   { result => ... } or { error => {...} }   sent as { v: 1, ... } with HTTP 200
#   _status => N                               another HTTP status
#   _chunked => 1                              chunked transfer encoding instead of Content-Length
#   _mode => 'hang'                            never answer (waits until the client gives up)
#   _mode => 'close'                           close without a reply
#   _mode => 'raw', _raw => TEXT               send TEXT as is

use IO::Select;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);

sub start {
    my ($class, $dir) = @_;
    $dir //= LVTest::temp_dir();
    my $self = bless {
        dir => $dir,
        socket => "$dir/agent.sock",
        log => "$dir/requests.jsonl",
        replies => "$dir/replies.json",
        owner_pid => $$,
    }, $class;
    $self->set_replies({});
    LVTest::write_file($self->{log}, '');
    my $listener = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $self->{socket}, Listen => 16)
        or die "fake agent: listen on $self->{socket}: $!\n";
    my $pid = fork();
    die "fork: $!" if !defined($pid);
    if (!$pid) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        eval { $self->_serve($listener) };
        POSIX::_exit(0);
    }
    close($listener);
    $self->{pid} = $pid;
    return $self;
}

sub socket_path { return $_[0]->{socket} }

sub set_replies {
    my ($self, $replies) = @_;
    LVTest::write_file($self->{replies}, LVTest::json()->encode($replies));
}

sub requests {
    my ($self) = @_;
    my @lines = grep { length } split(/\n/, LVTest::read_file($self->{log}));
    return [map { LVTest::json()->decode($_) } @lines];
}

sub last_request {
    my ($self) = @_;
    my $all = $self->requests();
    return $all->[-1];
}

sub clear {
    my ($self) = @_;
    LVTest::write_file($self->{log}, '');
}

sub stop {
    my ($self) = @_;
    return if !$self->{pid};
    kill('TERM', $self->{pid});
    waitpid($self->{pid}, 0);
    delete $self->{pid};
    unlink($self->{socket});
}

sub DESTROY {
    my ($self) = @_;
    $self->stop() if $self->{pid} && $self->{owner_pid} == $$;
}

sub _serve {
    my ($self, $listener) = @_;
    while (1) {
        my $c = $listener->accept() or next;
        my $raw = '';
        while ($raw !~ m/\r\n\r\n/) {
            my $n = sysread($c, $raw, 65536, length($raw));
            last if !$n;
        }
        my ($head, $body) = split(/\r\n\r\n/, $raw, 2);
        $head //= '';
        $body //= '';
        my ($len) = $head =~ m/^content-length:\s*(\d+)/im;
        while (length($body) < ($len // 0)) {
            my $n = sysread($c, $body, 65536, length($body));
            last if !$n;
        }
        my ($method, $path) = $head =~ m{^(\S+) (\S+) HTTP/1\.1};
        my $request = eval { LVTest::json()->decode($body) };
        open(my $log, '>>', $self->{log}) or die;
        print $log LVTest::json()->encode({ method => $method, path => $path, head => $head, body => $body, request => $request }), "\n";
        close($log);

        my $replies = eval { LVTest::json()->decode(LVTest::read_file($self->{replies})) } // {};
        my $op = ref($request) eq 'HASH' ? ($request->{operation} // '') : '';
        my $spec = $replies->{$op} // $replies->{'*'} // { result => {} };
        my $mode = $spec->{_mode} // 'reply';
        if ($mode eq 'hang') {
            my $sel = IO::Select->new($c);
            while ($sel->can_read(60)) {
                my $n = sysread($c, my $buf, 4096);
                last if !$n;
            }
            close($c);
            next;
        }
        if ($mode eq 'close') {
            close($c);
            next;
        }
        if ($mode eq 'raw') {
            syswrite($c, $spec->{_raw});
            close($c);
            next;
        }
        my %reply = (v => 1, map { $_ => $spec->{$_} } grep { !m/^_/ } keys %$spec);
        my $text = LVTest::json()->encode(\%reply);
        my $status = $spec->{_status} // 200;
        my $out = "HTTP/1.1 $status X\r\nContent-Type: application/json\r\nConnection: close\r\n";
        if ($spec->{_chunked}) {
            my $half = int(length($text) / 2);
            $out .= "Transfer-Encoding: chunked\r\n\r\n";
            $out .= sprintf("%x\r\n%s\r\n", $half, substr($text, 0, $half));
            $out .= sprintf("%x\r\n%s\r\n", length($text) - $half, substr($text, $half));
            $out .= "0\r\n\r\n";
        } else {
            $out .= "Content-Length: " . length($text) . "\r\n\r\n$text";
        }
        syswrite($c, $out);
        close($c);
    }
}

1;
