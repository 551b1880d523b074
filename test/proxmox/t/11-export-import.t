# volume_export / volume_import (raw+size): Perl moves the bytes between PVE's file handle and the
# device path the program names (a temp file here), framed by an 8-byte little-endian size.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../tlib";
use Test::More;

use JSON::PP;
use LVTest qw(with_fake_agent read_file write_file);
use PVE::Storage;

my $class = 'PVE::Storage::Custom::LinstorVirtPlugin';
my $T = JSON::PP::true;
my $F = JSON::PP::false;

my ($agent, $dir) = with_fake_agent();
my $scfg = { type => 'linstor', content => { images => 1 }, shared => 1 };

# 3 MiB + 12345 bytes of varied data: several 1 MiB chunks and a partial one.
my $size = 3 * 1024 * 1024 + 12345;
my $data = join('', map { chr(($_ * 7 + int($_ / 251)) % 256) } 0 .. 65535);
$data = substr($data x (int($size / length($data)) + 1), 0, $size);
my $device = "$dir/device";
write_file($device, $data . 'TRAILING BYTES BEYOND THE VOLUME');

# Export.
{
    $agent->clear();
    $agent->set_replies({
        volume_export_begin => { result => { path => $device, size => $size, handle => 'exp-1' } },
        volume_export_end => { result => {} },
    });
    open(my $out, '>', "$dir/stream") or die;
    my $r = eval { $class->volume_export($scfg, 'lv', $out, 'vm-100-disk-0', 'raw+size', undef, undef, 0) };
    is($@, '', 'export: no error');
    close($out);
    is($r, 1, 'export returns 1');
    my $stream = read_file("$dir/stream");
    is(length($stream), 8 + $size, 'stream is header + size bytes (no more)');
    is(unpack('Q<', substr($stream, 0, 8)), $size, 'header: size as 8-byte little-endian');
    is(substr($stream, 0, 8), pack('V', $size) . pack('V', 0), '... byte for byte');
    ok(substr($stream, 8) eq $data, 'payload equals the device content');
    my $req = $agent->requests();
    is_deeply([map { $_->{request}->{operation} } @$req], [qw(volume_export_begin volume_export_end)], 'begin, then end');
    is_deeply($req->[0]->{request}->{arguments}, { volname => 'vm-100-disk-0', snapname => undef }, 'begin arguments');
    is($req->[0]->{request}->{deadlineMs}, 60000, 'begin deadline');
    is_deeply($req->[1]->{request}->{arguments}, { volname => 'vm-100-disk-0', handle => 'exp-1' }, 'end arguments carry the handle');
}

# Export of a snapshot passes the snapshot name.
{
    $agent->clear();
    open(my $out, '>', "$dir/stream2") or die;
    $agent->set_replies({ volume_export_begin => { result => { path => $device, size => 10, handle => 'h' } } });
    $class->volume_export($scfg, 'lv', $out, 'vm-100-disk-0', 'raw+size', 'snap1');
    close($out);
    is(read_file("$dir/stream2"), pack('Q<', 10) . substr($data, 0, 10), 'a 10-byte export');
    is($agent->requests()->[0]->{request}->{arguments}->{snapname}, 'snap1', 'snapname forwarded');
}

# Export where the device is shorter than announced: error, and end is still called.
{
    $agent->clear();
    $agent->set_replies({ volume_export_begin => { result => { path => $device, size => $size + 1_000_000, handle => 'h2' } } });
    open(my $out, '>', "$dir/stream3") or die;
    eval { $class->volume_export($scfg, 'lv', $out, 'vm-100-disk-0', 'raw+size') };
    close($out);
    like($@, qr/^linstor-virt: \Q$device\E ended after \d+ of \d+ bytes\n\z/, 'a short device is one clear line');
    is_deeply([map { $_->{request}->{operation} } @{ $agent->requests() }], [qw(volume_export_begin volume_export_end)], 'end still called');
}

# Export where end fails.
{
    $agent->set_replies({
        volume_export_begin => { result => { path => $device, size => 1, handle => 'h3' } },
        volume_export_end => { error => { code => 'X', message => 'could not release the device' } },
    });
    open(my $out, '>', "$dir/stream4") or die;
    eval { $class->volume_export($scfg, 'lv', $out, 'vm-100-disk-0', 'raw+size') };
    close($out);
    is($@, "could not release the device\n", 'an end error is reported');
}

# Import.
my $target = "$dir/target";
{
    write_file($target, "\0" x ($size + 100));
    write_file("$dir/in", pack('Q<', $size) . $data);
    $agent->clear();
    $agent->set_replies({
        volume_import_begin => { result => { volname => 'vm-101-disk-0', path => $target, handle => 'imp-1' } },
        volume_import_end => { result => {} },
    });
    open(my $in, '<', "$dir/in") or die;
    @PVE::Storage::Plugin::LOCKED = ();
    my $r = eval { $class->volume_import($scfg, 'lv', $in, 'vm-100-disk-0', 'raw+size', undef, undef, 0, 1) };
    is($@, '', 'import: no error');
    is_deeply(\@PVE::Storage::Plugin::LOCKED, [{ storeid => 'lv', shared => 1 }], "the allocation ran under PVE's storage lock");
    close($in);
    is($r, 'lv:vm-101-disk-0', 'import returns storeid:volname of what the program chose');
    my $written = read_file($target);
    ok(substr($written, 0, $size) eq $data, 'the device holds the payload');
    is(substr($written, $size), "\0" x 100, 'nothing written beyond size');
    my $req = $agent->requests();
    is_deeply([map { $_->{request}->{operation} } @$req], [qw(volume_import_begin volume_import_end)], 'begin, then end');
    is_deeply($req->[0]->{request}->{arguments}, { volname => 'vm-100-disk-0', size => $size, allowRename => $T }, 'begin arguments');
    is_deeply($req->[1]->{request}->{arguments}, { volname => 'vm-101-disk-0', handle => 'imp-1', ok => $T }, 'end: ok true');
}

# Import from a pipe (how pvesm import gets its data): partial reads are handled.
{
    write_file($target, "\0" x $size);
    $agent->clear();
    pipe(my $r, my $w) or die;
    my $pid = fork();
    if (!$pid) {
        close($r);
        my $stream = pack('Q<', $size) . $data;
        for (my $off = 0; $off < length($stream); $off += 70_001) {
            syswrite($w, substr($stream, $off, 70_001));
        }
        close($w);
        POSIX::_exit(0);
    }
    close($w);
    my $res = eval { $class->volume_import($scfg, 'lv', $r, 'vm-100-disk-0', 'raw+size', undef, undef, 0, 0) };
    is($@, '', 'import from a pipe');
    waitpid($pid, 0);
    is($res, 'lv:vm-101-disk-0', '... returns the volid');
    ok(substr(read_file($target), 0, $size) eq $data, '... the device holds the payload');
    is($agent->requests()->[0]->{request}->{arguments}->{allowRename}, $F, 'allowRename false');
}

# Import with a short stream: end with ok false, then a clear die.
{
    write_file("$dir/short", pack('Q<', 5000) . ('x' x 1000));
    $agent->clear();
    open(my $in, '<', "$dir/short") or die;
    eval { $class->volume_import($scfg, 'lv', $in, 'vm-100-disk-0', 'raw+size') };
    close($in);
    is($@, "linstor-virt: the import stream of 'vm-100-disk-0' ended after 1000 of 5000 bytes\n", 'a short stream is one clear line');
    my $req = $agent->requests();
    is_deeply($req->[-1]->{request}->{arguments}, { volname => 'vm-101-disk-0', handle => 'imp-1', ok => $F }, 'end: ok false');
}

# Import with a truncated header: no request at all.
{
    write_file("$dir/hdr", 'abc');
    $agent->clear();
    open(my $in, '<', "$dir/hdr") or die;
    eval { $class->volume_import($scfg, 'lv', $in, 'vm-100-disk-0', 'raw+size') };
    close($in);
    is($@, "linstor-virt: the import stream ended before its 8-byte size header\n", 'a truncated header');
    is(scalar(@{ $agent->requests() }), 0, 'no request');
}

# Import where begin fails: no end (nothing began).
{
    write_file("$dir/in2", pack('Q<', 10) . ('y' x 10));
    $agent->clear();
    $agent->set_replies({ volume_import_begin => { error => { code => 'EXISTS', message => "volume 'vm-100-disk-0' already exists" } } });
    open(my $in, '<', "$dir/in2") or die;
    eval { $class->volume_import($scfg, 'lv', $in, 'vm-100-disk-0', 'raw+size') };
    close($in);
    is($@, "volume 'vm-100-disk-0' already exists\n", 'a begin error');
    is_deeply([map { $_->{request}->{operation} } @{ $agent->requests() }], ['volume_import_begin'], 'no end after a failed begin');
}

$agent->stop();
done_testing();
