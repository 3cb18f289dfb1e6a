#!/usr/bin/perl
# fake_ssh.pl HOST PORT MODE: a TCP listener that accepts every connection
# and then never answers: MODE silent sends nothing, MODE banner sends an
# SSH identification line first (the client then waits in key exchange).
# Holds every connection until it is killed.
use strict;
use warnings;
use IO::Socket::INET;
my ($host, $port, $mode) = @ARGV;
my $l = IO::Socket::INET->new(LocalAddr => $host, LocalPort => $port, Listen => 16,
    ReuseAddr => 1, Proto => 'tcp') or die "listen $host:$port: $!";
my @held;
while (my $c = $l->accept) {
    syswrite($c, "SSH-2.0-OpenSSH_9.2p1\r\n") if $mode eq 'banner';
    push @held, $c;
}
