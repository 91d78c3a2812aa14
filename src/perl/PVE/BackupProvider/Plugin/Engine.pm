package PVE::BackupProvider::Plugin::Engine;

# Proxmox VE's backup provider API (PVE::BackupProvider::Plugin::Base) forwarded to Engine: every callback becomes
# one request to a long-lived `engine provider` child process, spoken to in JSON lines on its stdin and stdout (see
# docs/provider-protocol.md). Positional arguments become the named params documented there; log lines go to the
# $log_function PVE handed to new(); an error response dies with the engine's message.
#
# The file-handle mechanism: PVE's open file handles cross to the child over a Unix socketpair (SCM_RIGHTS) that
# the child inherits as descriptor 3, and the child pulls each device's next-dirty-region closure through calls on
# the same stdout/stdin pair while backup_vm runs.

use strict;
use warnings;

use Fcntl qw(F_SETFD);
use IO::Handle;
use JSON::PP;
use POSIX ();
use Socket qw(AF_UNIX PF_UNSPEC SOCK_SEQPACKET SOL_SOCKET SCM_RIGHTS);

use base qw(PVE::BackupProvider::Plugin::Base);

# Where the child finds the descriptor channel.
my $FD_CHANNEL = 3;

# How long a child may take to end after its input closed, before it is terminated.
my $EXIT_GRACE_SECONDS = 10;

sub new {
    my ($class, $storage_plugin, $scfg, $storeid, $log_function) = @_;

    my $repository = $scfg->{'engine-repository'}
        or die "storage '$storeid': 'engine-repository' is not set\n";
    my $mechanism = $scfg->{'engine-mechanism'} // 'nbd';
    die "storage '$storeid': engine-mechanism '$mechanism' is neither nbd nor file-handle\n"
        if $mechanism ne 'nbd' && $mechanism ne 'file-handle';
    my @command = split(' ', $scfg->{'engine-command'} // 'engine');
    die "storage '$storeid': 'engine-command' is empty\n" if !@command;
    my $container_restore = $scfg->{'engine-container-restore'} // 'tar';
    die "storage '$storeid': engine-container-restore '$container_restore' is neither tar nor directory\n"
        if $container_restore ne 'tar' && $container_restore ne 'directory';

    # An s3:// repository's credentials and endpoint, read (and checked) now so a bad file fails here by name.
    my $environment = $storage_plugin->can('engine_environment') ? $storage_plugin->engine_environment($storeid, $scfg) : {};

    my $self = bless {
        'storage-plugin' => $storage_plugin,
        environment => $environment,
        storeid => $storeid,
        repository => $repository,
        mechanism => $mechanism,
        'container-restore' => $container_restore,
        command => \@command,
        log => $log_function // sub { print STDERR "$_[0]: $_[1]\n" },
        # Byte-transparent: PVE's configurations are byte strings (UTF-8 as read from disk); they are written as
        # they are and the engine answers in raw UTF-8, which comes back as the same bytes.
        json => JSON::PP->new->canonical->allow_nonref,
        'next-id' => 0,
        'next-token' => 0,
        archives => {},
    }, $class;

    return $self;
}

# --- the child process ---------------------------------------------------------------------------------------

# Starts `engine provider`; with $fd_channel the child gets the socketpair's other end as descriptor 3.
sub _spawn {
    my ($self, $fd_channel) = @_;

    my ($to_child_read, $to_child, $from_child, $from_child_write);
    pipe($to_child_read, $to_child) or die "engine provider: pipe: $!\n";
    pipe($from_child, $from_child_write) or die "engine provider: pipe: $!\n";
    my ($channel, $child_end);
    if ($fd_channel) {
        socketpair($channel, $child_end, AF_UNIX, SOCK_SEQPACKET, PF_UNSPEC)
            or die "engine provider: socketpair: $!\n";
    }

    my @command = (
        $self->{command}->@*, 'provider',
        '--repo', $self->{repository},
        '--mechanism', $self->{mechanism},
        '--container-restore', $self->{'container-restore'},
        ($fd_channel ? ('--fd-channel', $FD_CHANNEL) : ()),
    );

    my $pid = fork() // die "engine provider: fork: $!\n";
    if (!$pid) {
        eval {
            # Credentials as environment, never on the command line (which every user sees in ps).
            @ENV{keys $self->{environment}->%*} = values $self->{environment}->%*;
            POSIX::dup2(fileno($to_child_read), 0) // die "dup2: $!\n";
            POSIX::dup2(fileno($from_child_write), 1) // die "dup2: $!\n";
            if ($child_end) {
                # Perl opens everything above fd 2 close-on-exec; a dup2 copy is not, the original already at 3 is.
                if (fileno($child_end) == $FD_CHANNEL) {
                    fcntl($child_end, F_SETFD, 0) or die "fcntl: $!\n";
                } else {
                    POSIX::dup2(fileno($child_end), $FD_CHANNEL) // die "dup2: $!\n";
                }
            }
            exec { $command[0] } @command or die "exec $command[0]: $!\n";
        };
        print STDERR "engine provider: cannot start '@command': $@";
        POSIX::_exit(127);
    }

    close($to_child_read);
    close($from_child_write);
    close($child_end) if $child_end;
    binmode($to_child);
    binmode($from_child);
    $to_child->autoflush(1);

    return {
        pid => $pid,
        owner => $$,
        input => $to_child,
        output => $from_child,
        channel => $channel,
        command => "@command",
    };
}

# The long-lived child, started on first use.
sub _child {
    my ($self) = @_;
    return $self->{child} //= $self->_spawn(1);
}

# Closes the child's input (end of input ends it) and reaps it; returns how it ended.
sub _finish {
    my ($self, $child) = @_;

    close($child->{input}) if $child->{input};
    close($child->{output}) if $child->{output};
    close($child->{channel}) if $child->{channel};
    delete $child->@{qw(input output channel)};
    # A forked copy of this object (PVE forks for container backups) does not own the child.
    return 'not ours' if $child->{owner} != $$;
    return $child->{ended} if defined($child->{ended});

    my $status;
    for my $signal (0, 'TERM', 'KILL') {
        kill($signal, $child->{pid}) if $signal;
        for (1 .. $EXIT_GRACE_SECONDS * 10) {
            my $reaped = waitpid($child->{pid}, POSIX::WNOHANG());
            if ($reaped == $child->{pid} || $reaped < 0) {
                $status = $reaped < 0 ? -1 : $?;
                last;
            }
            select(undef, undef, undef, 0.1);
        }
        last if defined($status);
    }

    $child->{ended} = !defined($status) ? 'not reaped'
        : $status < 0 ? 'reaped elsewhere'
        : $status & 127 ? 'killed by signal ' . ($status & 127)
        : 'exit code ' . ($status >> 8);
    return $child->{ended};
}

sub _stop {
    my ($self) = @_;
    my $child = delete $self->{child} or return;
    $self->_finish($child);
}

sub DESTROY {
    my ($self) = @_;
    local ($., $@, $!, $^E, $?);
    $self->_stop();
}

# --- requests ------------------------------------------------------------------------------------------------

sub _write_line {
    my ($self, $child, $message, $what) = @_;
    # A dead child must fail the call, not kill PVE's worker with SIGPIPE.
    local $SIG{PIPE} = 'IGNORE';
    my $line = $self->{json}->encode($message);
    return if print { $child->{input} } "$line\n";
    my $err = $!;
    $self->_child_gone($child, $what) if $!{EPIPE};
    die "engine provider: $what: cannot write to '$child->{command}': $err\n";
}

# The child closed its end: reap it and say how it ended.
sub _child_gone {
    my ($self, $child, $what) = @_;
    my $ended = $self->_finish($child);
    delete $self->{child} if $self->{child} && $self->{child} == $child;
    die "engine provider: $what: '$child->{command}' ended ($ended) without answering\n";
}

# Sends one request to $child and reads until its response: log lines go to the log function, calls back from the
# engine (next-dirty-region) are answered, an error response dies with the engine's message.
sub _request {
    my ($self, $child, $method, $params) = @_;

    my $id = ++$self->{'next-id'};
    $self->_write_line($child, { id => $id, method => $method, params => $params // {} }, $method);

    while (1) {
        my $line = readline($child->{output});
        $self->_child_gone($child, $method) if !defined($line);
        my $message = eval { $self->{json}->decode($line) };
        die "engine provider: $method: not a JSON line: $line" if !ref($message);

        if (my $log = $message->{log}) {
            eval { $self->{log}->($log->{level} // 'info', $log->{message} // '') };
            warn "engine provider: log function failed: $@" if $@;
            next;
        }
        if (my $call = $message->{call}) {
            $self->_answer_call($child, $call);
            next;
        }
        my $answered = $message->{id} // 'null';
        die "engine provider: $method: got the response to request $answered while waiting for $id\n"
            if $answered ne $id;
        if (my $error = $message->{error}) {
            my $text = $error->{message} // 'unknown error';
            die "$text\n";
        }
        return $message->{result};
    }
}

sub _call {
    my ($self, $method, $params) = @_;
    return $self->_request($self->_child(), $method, $params);
}

# next-dirty-region: calls the device's closure up to 'max' times.
sub _answer_call {
    my ($self, $child, $call) = @_;

    my $reply = { id => $call->{id} };
    eval {
        my $method = $call->{method} // '';
        die "unknown call '$method'\n" if $method ne 'next-dirty-region';
        my $device = $call->{device} // '';
        my $next = $self->{'dirty-regions'}->{$device}
            or die "no next-dirty-region for device '$device'\n";
        my $max = $call->{max} // 1;
        $max = 1 if $max < 1;

        my @regions;
        my $end = $self->{'dirty-regions-ended'}->{$device};
        while (!$end && @regions < $max) {
            my ($offset, $length) = $next->();
            if (!defined($offset)) {
                $end = $self->{'dirty-regions-ended'}->{$device} = 1;
                last;
            }
            push @regions, [0 + $offset, 0 + $length];
        }
        $reply->{regions} = \@regions;
        $reply->{end} = $end ? JSON::PP::true : JSON::PP::false;
    };
    if (my $err = $@) {
        chomp($err);
        $reply = { id => $call->{id}, error => "next-dirty-region: $err" };
    }
    $self->_write_line($child, { reply => $reply }, 'next-dirty-region');
}

# Hands $fh's descriptor to $child with SCM_RIGHTS; the request that follows names it by the token.
sub _send_descriptor {
    my ($self, $child, $device, $fh) = @_;

    eval { require Socket::MsgHdr; 1 }
        or die "engine provider: the file-handle mechanism needs Socket::MsgHdr (Debian package libsocket-msghdr-perl)\n";
    my $fd = ref($fh) ? fileno($fh) : $fh;
    die "engine provider: $device: file-handle is not an open file\n" if !defined($fd) || $fd !~ m/^\d+$/;

    my $token = ++$self->{'next-token'};
    my $message = Socket::MsgHdr->new(buf => "$token");
    $message->cmsghdr(SOL_SOCKET, SCM_RIGHTS, pack('i', $fd));
    Socket::MsgHdr::sendmsg($child->{channel}, $message, 0)
        or die "engine provider: $device: cannot pass the file handle: $!\n";
    return $token;
}

# The forms with and without pve-container's $storeid: ($volname[, $storeid][, $info]).
sub _volume_params {
    my ($volname, @rest) = @_;
    my $params = { volname => $volname };
    $params->{storeid} = shift(@rest) if @rest && defined($rest[0]) && !ref($rest[0]);
    shift(@rest) if @rest && !defined($rest[0]);
    $params->{info} = $rest[0] if @rest && ref($rest[0]) eq 'HASH';
    return $params;
}

# --- the callbacks -------------------------------------------------------------------------------------------

sub provider_name {
    my ($self) = @_;
    return $self->{'provider-name'} //= $self->_call('provider_name');
}

sub job_init {
    my ($self, $start_time) = @_;
    $self->_call('job_init', { 'start-time' => $start_time });
    return;
}

sub job_cleanup {
    my ($self) = @_;
    my $err;
    eval { $self->_call('job_cleanup') if $self->{child} };
    $err = $@;
    # The job is over: so is its process. A restore or the next job starts another.
    $self->_stop();
    die $err if $err;
    return;
}

sub backup_init {
    my ($self, $vmid, $vmtype, $start_time) = @_;
    my $result = $self->_call('backup_init', { vmid => "$vmid", vmtype => $vmtype, 'start-time' => $start_time });
    $self->{archives}->{$vmid} = $result->{'archive-name'};
    return $result;
}

sub backup_cleanup {
    my ($self, $vmid, $vmtype, $success, $info) = @_;
    return $self->_call('backup_cleanup', {
        vmid => "$vmid",
        vmtype => $vmtype,
        success => $success ? JSON::PP::true : JSON::PP::false,
        info => $info // {},
    });
}

sub backup_get_mechanism {
    my ($self, $vmid, $vmtype) = @_;
    return $self->_call('backup_get_mechanism', { vmid => "$vmid", vmtype => $vmtype });
}

sub backup_handle_log_file {
    my ($self, $vmid, $filename) = @_;
    $self->_call('backup_handle_log_file', { vmid => "$vmid", filename => $filename });
    return;
}

sub backup_vm_query_incremental {
    my ($self, $vmid, $volumes) = @_;
    my %sizes = map { $_ => { size => $volumes->{$_}->{size} } } keys $volumes->%*;
    return $self->_call('backup_vm_query_incremental', { vmid => "$vmid", volumes => \%sizes });
}

sub backup_vm {
    my ($self, $vmid, $guest_config, $volumes, $info) = @_;

    my $child = $self->_child();
    my %wire;
    $self->{'dirty-regions'} = {};
    $self->{'dirty-regions-ended'} = {};
    my $result = eval {
        for my $device (sort keys $volumes->%*) {
            my %volume = $volumes->{$device}->%*;
            if (my $next = delete $volume{'next-dirty-region'}) {
                $self->{'dirty-regions'}->{$device} = $next;
            }
            if (defined(my $fh = delete $volume{'file-handle'})) {
                $volume{'file-handle'} = { 'fd-token' => $self->_send_descriptor($child, $device, $fh) };
            }
            $wire{$device} = \%volume;
        }
        my %wire_info = map { $_ => $info->{$_} } grep { defined($info->{$_}) } keys(($info // {})->%*);
        $self->_request($child, 'backup_vm', {
            vmid => "$vmid",
            'guest-config' => $guest_config,
            volumes => \%wire,
            info => \%wire_info,
        });
    };
    my $err = $@;
    delete $self->@{qw(dirty-regions dirty-regions-ended)};
    die $err if $err;
    return $result;
}

sub backup_container_prepare {
    my ($self, $vmid, $info) = @_;
    $self->_call('backup_container_prepare', { vmid => "$vmid", info => $info // {} });
    return;
}

# Runs in the container's user and mount namespaces, where the long-lived child (outside them) cannot see the
# directory: a fresh `engine provider` started from here does the work and ends with this call.
sub backup_container {
    my ($self, $vmid, $guest_config, $exclude_patterns, $info) = @_;

    my $child = $self->_spawn(0);
    my $result = eval {
        $self->_request($child, 'backup_container', {
            vmid => "$vmid",
            'guest-config' => $guest_config,
            'exclude-patterns' => $exclude_patterns // [],
            info => $info // {},
            'archive-name' => $self->{archives}->{$vmid},
        });
    };
    my $err = $@;
    my $ended = $self->_finish($child);
    die $err if $err;
    die "engine provider: backup_container: '$child->{command}' ended with $ended\n"
        if $ended ne 'exit code 0';
    return $result;
}

sub restore_get_mechanism {
    my ($self, $volname, @rest) = @_;
    my $result = $self->_call('restore_get_mechanism', _volume_params($volname, @rest));
    return ($result->{mechanism}, $result->{vmtype});
}

sub archive_get_guest_config {
    my ($self, $volname, @rest) = @_;
    return $self->_call('archive_get_guest_config', _volume_params($volname, @rest));
}

sub archive_get_firewall_config {
    my ($self, $volname, @rest) = @_;
    return $self->_call('archive_get_firewall_config', _volume_params($volname, @rest));
}

sub restore_vm_init {
    my ($self, $volname) = @_;
    return $self->_call('restore_vm_init', { volname => $volname });
}

sub restore_vm_cleanup {
    my ($self, $volname) = @_;
    $self->_call('restore_vm_cleanup', { volname => $volname });
    return;
}

sub restore_vm_volume_init {
    my ($self, $volname, $device_name, $info) = @_;
    return $self->_call('restore_vm_volume_init', { volname => $volname, 'device-name' => $device_name, info => $info // {} });
}

sub restore_vm_volume_cleanup {
    my ($self, $volname, $device_name, $info) = @_;
    $self->_call('restore_vm_volume_cleanup', { volname => $volname, 'device-name' => $device_name, info => $info // {} });
    return;
}

sub restore_container_init {
    my ($self, $volname, @rest) = @_;
    return $self->_call('restore_container_init', _volume_params($volname, @rest));
}

sub restore_container_cleanup {
    my ($self, $volname, @rest) = @_;
    $self->_call('restore_container_cleanup', _volume_params($volname, @rest));
    return;
}

1;
