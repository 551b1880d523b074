#!/usr/bin/perl
# A stand-in for `linstor-virt call --stdin` (tests only), run as LINSTOR_VIRT_NODE=perl
# LINSTOR_VIRT_CLI=<this file>: checks its arguments, records the request, answers per mode.
#   LV_FAKE_CLI_LOG      append the request (one line) here
#   LV_FAKE_CLI_PIDFILE  write the pid here
#   LV_FAKE_CLI_REPLY    the reply line (default {"v":1,"result":{}})
#   LV_FAKE_CLI_MODE     reply | hang | hang-ignore-term | garbage | noisy | no-read
use strict;
use warnings;

if ("@ARGV" ne 'call --stdin') {
    print STDERR "usage: linstor-virt call --stdin (got: @ARGV)\n";
    exit 2;
}
my $mode = $ENV{LV_FAKE_CLI_MODE} // 'reply';
if (my $pidfile = $ENV{LV_FAKE_CLI_PIDFILE}) {
    open(my $p, '>', $pidfile) or die;
    print $p $$;
    close($p);
}
my $request = '';
if ($mode ne 'no-read') {
    local $/;
    $request = <STDIN>;
}
if (my $log = $ENV{LV_FAKE_CLI_LOG}) {
    open(my $l, '>>', $log) or die;
    print $l (($request =~ s/\n/ /gr), "\n");
    close($l);
}
if ($mode eq 'hang') {
    sleep(600);
    exit(0);
}
if ($mode eq 'hang-ignore-term') {
    $SIG{TERM} = 'IGNORE';
    sleep(1) while 1;
}
if ($mode eq 'garbage') {
    print "this is not json\n";
    print STDERR "fake-cli: something broke\nsecond line\n";
    exit(1);
}
if ($mode eq 'noisy') {
    print STDERR "a log line of the one-shot call that fills the pipe\n" x 20000;
}
$| = 1;
print "{\"level\":30,\"msg\":\"a log line on stdout before the reply\"}\n" if $mode eq 'noisy';
print(($ENV{LV_FAKE_CLI_REPLY} // '{"v":1,"result":{}}'), "\n");
exit(0);
