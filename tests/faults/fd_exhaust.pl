#!/usr/bin/perl
# fd_exhaust.pl HTTP_PORT GW_PORT PID TOKENS OUT: exhausts the allocator's
# file descriptors while it serves, then gives them back.
#   1. opens one keep-alive HTTP connection per line of TOKENS ("host token")
#      and one more for /metrics, before anything else;
#   2. opens TCP connections to the ZeroMQ gateway (GW_PORT; they never
#      finish a handshake) until the allocator (PID) holds as many
#      descriptors as its RLIMIT_NOFILE allows;
#   3. on every HTTP connection at once, POST /vm_startup for its VM; each
#      answer "phase1 host status body" goes to OUT; then GET /metrics:
#      "metrics <lablink_http_socket_failures_total>";
#   4. closes the gateway connections and polls again on the same HTTP
#      connections: "phase2 host status body".
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
$SIG{PIPE} = 'IGNORE';
my ($http_port, $gw_port, $pid, $tokens, $out) = @ARGV;

sub fds { opendir(my $d, "/proc/$pid/fd") or return -1; my $n = () = readdir($d); closedir($d); $n - 2 }
sub limit {
    open(my $f, '<', "/proc/$pid/limits") or die "limits: $!";
    while (<$f>) { return $1 if /^Max open files\s+(\d+)/ }
    die "no open-files limit";
}
sub connect_http {
    IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $http_port, Proto => 'tcp', Timeout => 5)
        or die "http connect: $!";
}
# One answer on a keep-alive connection: (status, body)
sub answer {
    my ($s) = @_;
    my ($status, $len) = (0, 0);
    my $line = <$s>;
    return (0, 'closed') unless defined $line;
    $status = $1 if $line =~ m{^HTTP/1\.1 (\d+)};
    while (defined($line = <$s>)) {
        last if $line eq "\r\n";
        $len = $1 if $line =~ /^Content-Length:\s*(\d+)/i;
    }
    my $body = '';
    read($s, $body, $len) if $len;
    $body =~ s/\s+/ /g;
    return ($status, $body);
}
sub poll_all {
    my ($phase, $conns, $fh) = @_;
    for my $c (@$conns) {
        my $body = "{\"hostname\":\"$c->{host}\"}";
        print {$c->{sock}} "POST /vm_startup HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $c->{token}\r\n"
            . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
    }
    for my $c (@$conns) {
        my ($status, $b) = answer($c->{sock});
        print $fh "$phase $c->{host} $status $b\n";
    }
}

open(my $fh, '>', $out) or die "$out: $!";
$fh->autoflush(1);
my @conns;
open(my $t, '<', $tokens) or die "$tokens: $!";
while (<$t>) {
    chomp;
    my ($host, $token) = split / /;
    push @conns, {host => $host, token => $token, sock => connect_http()};
}
my $metrics = connect_http();
sleep 0.5;    # civetweb hands each connection to a worker

my $max = limit();
my @flood;
my $t0 = time;
while (fds() < $max && time - $t0 < 20) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gw_port, Proto => 'tcp', Timeout => 1);
    last unless $s;
    push @flood, $s;
    # let libzmq accept before counting again
    sleep 0.002 if fds() >= $max - 8;
}
sleep 0.3;
print $fh "flood " . scalar(@flood) . " connections, allocator fds " . fds() . " of $max\n";

poll_all('phase1', \@conns, $fh);
print $metrics "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
my ($ms, $mb) = answer($metrics);
my ($failures) = $mb =~ /lablink_http_socket_failures_total (\d+)/;
print $fh "metrics $ms " . ($failures // 'none') . "\n";

close($_) for @flood;
@flood = ();
sleep 1;
print $fh "released, allocator fds " . fds() . " of $max\n";
poll_all('phase2', \@conns, $fh);
close($fh);
