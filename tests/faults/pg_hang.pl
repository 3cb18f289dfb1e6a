#!/usr/bin/perl
# pg_hang.pl PORT SECONDS: a "database" that accepts connections on
# 127.0.0.1:PORT and never answers (reads and drops what it is sent), for
# SECONDS. Prints "ready" once listening, and at the end how many
# connections it accepted.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);
$| = 1;
my ($port, $seconds) = @ARGV;
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 128,
    ReuseAddr => 1, Proto => 'tcp') or die "listen $port: $!";
print "ready\n";
my $select = IO::Select->new($listen);
my $accepted = 0;
my $end = time + $seconds;
while (time < $end) {
    for my $s ($select->can_read(0.2)) {
        if ($s == $listen) {
            my $c = $listen->accept or next;
            $select->add($c);
            $accepted++;
        } elsif (!sysread($s, my $buf, 4096)) {
            $select->remove($s);
            close $s;
        }
    }
}
print "accepted $accepted\n";
