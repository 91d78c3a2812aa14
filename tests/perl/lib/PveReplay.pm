package PveReplay;

# qemu-server's and QEMU's side of a VM backup and restore, for provider tests driven through the Perl plugin: qcow2
# disks with persistent dirty bitmaps, snapshot access exported by qemu-nbd under the device names (or as nbdfuse
# files opened O_RDWR|O_DIRECT for the file-handle mechanism), and restores through qemu-img. Used by provider.t
# (Engine's provider) and sample-provider.t (samples/ImageFilesProvider); setup() names the disks and directory.

use strict;
use warnings;

use Exporter 'import';
use Fcntl qw(O_RDWR);
use JSON::PP;
use POSIX ();
use Test::More;

our @EXPORT = qw(%SIZE @DEVICES disk create_disks container_tree full_nbd_backup incremental_file_handle_backup run start stop wait_for capture guest_writes snapshot_access file_handle_volume close_access
    backup_vm_like_pve restore_vm_like_pve);

# Two disks, as PVE hands a VM's disks to one backup_vm: one descriptor and one closure each.
our %SIZE = ('drive-scsi0' => 8 * 1024 * 1024, 'drive-virtio1' => 4 * 1024 * 1024);
our @DEVICES = sort keys %SIZE;
our ($dir, $BITMAP, $CONFIG, $FIREWALL);

# dir: where disks, exports and restores go; bitmap: the disks' bitmap name; config and firewall: what backup_vm is
# handed. Bails out naming the Debian package of a missing tool.
sub setup {
    my (%args) = @_;
    ($dir, $BITMAP, $CONFIG, $FIREWALL) = @args{qw(dir bitmap config firewall)};
    my %packages = (
        'qemu-img' => 'qemu-utils', 'qemu-io' => 'qemu-utils', 'qemu-nbd' => 'qemu-utils',
        nbdinfo => 'libnbd-bin', nbdfuse => 'nbdfuse', fusermount3 => 'fuse3',
    );
    for my $tool (sort keys %packages) {
        BAIL_OUT("/usr/bin/$tool is missing: install the Debian package $packages{$tool}") if !-x "/usr/bin/$tool";
    }
    eval { require Socket::MsgHdr; 1 }
        or BAIL_OUT('Socket::MsgHdr is missing: install the Debian package libsocket-msghdr-perl');
}

sub disk { return "$dir/$_[0].qcow2" }

# The VM's empty qcow2 disks, each with its persistent dirty bitmap enabled.
sub create_disks {
    for my $device (@DEVICES) {
        run('qemu-img', 'create', '-q', '-f', 'qcow2', disk($device), $SIZE{$device});
        run('qemu-img', 'bitmap', '--add', '--enable', disk($device), $BITMAP);
    }
}

# A small container root: ./sbin/init, twelve files in ./etc, and ./tmp/junk for vzdump's '/tmp/?*' to exclude.
sub container_tree {
    my ($root) = @_;
    mkdir($root) or die "mkdir $root: $!\n";
    for my $sub (qw(sbin etc tmp)) { mkdir("$root/$sub") or die; }
    for my $i (1 .. 12) { open(my $fh, '>', "$root/etc/f$i") or die; print $fh "file $i\n"; close($fh); }
    { open(my $fh, '>', "$root/sbin/init") or die; print $fh "init\n"; close($fh); }
    { open(my $fh, '>', "$root/tmp/junk") or die; print $fh "excluded\n"; close($fh); }
}

# --- helpers: real tools, background daemons -----------------------------------------------------------------

sub run {
    my (@command) = @_;
    open(my $out, '-|', @command) or die "cannot run @command: $!\n";
    local $/;
    my $output = <$out> // '';
    close($out);
    die "@command failed with status $?\n" if $?;
    return $output;
}

sub start {
    my (@command) = @_;
    my $pid = fork() // die "fork: $!\n";
    if (!$pid) {
        open(STDOUT, '>', '/dev/null');
        exec { $command[0] } @command or POSIX::_exit(127);
    }
    return $pid;
}

sub stop {
    my ($pid) = @_;
    kill('TERM', $pid);
    waitpid($pid, 0);
}

sub wait_for {
    my ($what, $condition) = @_;
    for (1 .. 100) {
        return if $condition->();
        select(undef, undef, undef, 0.05);
    }
    die "timed out waiting for $what\n";
}

# The disks' content now, as raw files for qemu-img compare.
sub capture {
    my ($name) = @_;
    my %raw;
    for my $device (@DEVICES) {
        $raw{$device} = "$dir/$device.$name.raw";
        run('qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', disk($device), $raw{$device});
    }
    return \%raw;
}

sub guest_writes {
    my ($device, @commands) = @_;
    run('qemu-io', '-f', 'qcow2', (map { ('-c', $_) } @commands), disk($device));
}

my $export_count = 0;

# The snapshot access of one backup: a copy of the disk as it is now (PVE's is a fleecing snapshot), exported
# writable (PVE's export takes discards) under the device name with its bitmap.
sub snapshot_access {
    my ($device) = @_;
    my $n = ++$export_count;
    my $snapshot = "$dir/snapshot-$n.qcow2";
    run('cp', '--sparse=always', disk($device), $snapshot);
    my $socket = "$dir/nbd-$n.sock";
    my $pid = start('/usr/bin/qemu-nbd', '-k', $socket, '-t', '--shared=8', '-f', 'qcow2', '-x', $device, '-B', $BITMAP, $snapshot);
    wait_for("qemu-nbd on $socket", sub { -S $socket });
    return { pid => $pid, socket => $socket, uri => "nbd+unix:///$device?socket=$socket", n => $n, device => $device };
}

# What qemu-server's file-handle preparation hands the provider: an nbdfuse file opened O_RDWR|O_DIRECT and a
# closure over `nbdinfo --map` of the bitmap that returns one dirty extent per call, then nothing.
sub file_handle_volume {
    my ($access, $closure_calls, $fail_after) = @_;
    my $device = $access->{device};
    my @extents;
    for my $line (split(/\n/, run('nbdinfo', $access->{uri}, "--map=qemu:dirty-bitmap:$BITMAP"))) {
        my ($offset, $length, $type) = $line =~ m/^\s*(\d+)\s+(\d+)\s+(\d+)/ or die "unexpected nbdinfo line: $line\n";
        push @extents, [$offset, $length] if $type & 1;
    }
    my $mount = "$dir/fuse-$access->{n}";
    mkdir($mount) or die "mkdir $mount: $!\n";
    my $file = "$mount/$device";
    $access->{fuse} = start('/usr/bin/nbdfuse', $file, $access->{uri});
    $access->{mount} = $mount;
    wait_for("nbdfuse $file", sub { -f $file && -s $file == $SIZE{$device} });
    sysopen(my $fh, $file, O_RDWR | Fcntl::O_DIRECT()) or die "open $file O_RDWR|O_DIRECT: $!\n";
    $access->{fh} = $fh;
    my $next = sub {
        my $calls = ++$closure_calls->{$device};
        die "nbdinfo child went away\n" if defined($fail_after) && $calls > $fail_after;
        my $extent = shift(@extents) or return;
        return @$extent;
    };
    return { 'file-handle' => $fh, 'next-dirty-region' => $next };
}

sub close_access {
    my ($access) = @_;
    close($access->{fh}) if $access->{fh};
    if ($access->{fuse}) {
        run('fusermount3', '-u', $access->{mount});
        waitpid($access->{fuse}, 0);
    }
    stop($access->{pid});
}

# qemu-server's archive_external, in its order; QEMU commits the bitmap once backup_vm returned.
sub backup_vm_like_pve {
    my (%args) = @_;
    my ($provider, $vmid, $start) = @args{qw(provider vmid start)};
    $provider->job_init($start);
    my $archive = $provider->backup_init($vmid, 'qemu', $start)->{'archive-name'};
    my $mechanism = $provider->backup_get_mechanism($vmid, 'qemu');
    my $modes = $provider->backup_vm_query_incremental($vmid, { map { $_ => { size => $SIZE{$_} } } @DEVICES });
    my (%volumes, @accesses);
    for my $device (@DEVICES) {
        if ($modes->{$device} eq 'new') {
            run('qemu-img', 'bitmap', '--remove', disk($device), $BITMAP);
            run('qemu-img', 'bitmap', '--add', '--enable', disk($device), $BITMAP);
        }
        $volumes{$device} = { size => $SIZE{$device}, 'bitmap-mode' => $modes->{$device} eq 'use' ? 'reuse' : 'new' };
    }
    eval {
        for my $device (@DEVICES) {
            my $access = snapshot_access($device);
            push @accesses, $access;
            my $volume = $volumes{$device};
            if ($mechanism eq 'file-handle') {
                %$volume = (%$volume, file_handle_volume($access, $args{closure_calls} // {}, $args{fail_after})->%*);
            } else {
                %$volume = (%$volume, 'nbd-path' => $access->{socket}, 'bitmap-name' => $BITMAP);
            }
        }
        $provider->backup_vm($vmid, $CONFIG, \%volumes, { 'firewall-config' => $FIREWALL });
    };
    my $err = $@;
    close_access($_) for @accesses;
    if (!$err) {
        run('qemu-img', 'bitmap', '--clear', disk($_), $BITMAP) for @DEVICES;
    }
    my $success = !$err && !$args{fail_after_backup_vm};
    my $cleanup = $provider->backup_cleanup($vmid, 'qemu', $success ? 1 : 0, $success ? {} : { error => $err || 'vzdump failed later' });
    my $task_log = "$dir/task-$vmid-$start.log";
    open(my $fh, '>', $task_log) or die;
    print $fh "INFO: starting new backup job: vzdump $vmid\n";
    close($fh);
    $provider->backup_handle_log_file($vmid, $task_log);
    $provider->job_cleanup();
    return { archive => $archive, mechanism => $mechanism, modes => $modes, cleanup => $cleanup, error => $err };
}

my $restore_count = 0;

# qemu-server's restore_external_archive: the cleanup calls are made whatever happens.
sub restore_vm_like_pve {
    my ($provider, $volname, $expected, @storeid) = @_;
    my ($mechanism, $vmtype) = $provider->restore_get_mechanism($volname, @storeid);
    is("$mechanism/$vmtype", 'qemu-img/qemu', "$volname: restore mechanism");
    my $config = $provider->archive_get_guest_config($volname, @storeid);
    my $firewall = $provider->archive_get_firewall_config($volname, @storeid);
    my @paths;
    my $devices = $provider->restore_vm_init($volname);
    eval {
        is_deeply([sort keys %$devices], \@DEVICES, "$volname: devices");
        for my $device (sort keys %$devices) {
            my $size = $devices->{$device}->{size};
            is($size, $SIZE{$device}, "$volname: $device size");
            my $target = "$dir/restored-" . ++$restore_count . ".raw";
            run('qemu-img', 'create', '-q', '-f', 'raw', $target, $size);
            my $path = $provider->restore_vm_volume_init($volname, $device, {})->{'qemu-img-path'};
            push @paths, $path;
            eval {
                my $info = JSON::PP->new->decode(run('qemu-img', 'info', '-f', 'raw', '--output=json', $path));
                is($info->{'virtual-size'}, $size, "$volname: qemu-img info of $path");
                ok(!defined($info->{'backing-filename'}), "$volname: $device has no backing file");
                run('qemu-img', 'convert', '-p', '-n', '-f', 'raw', $path, '-O', 'raw', $target);
            };
            my $err = $@;
            $provider->restore_vm_volume_cleanup($volname, $device, {});
            die $err if $err;
            ok(eval { run('qemu-img', 'compare', '-f', 'raw', '-F', 'raw', $expected->{$device}, $target); 1 },
                "$volname: restored $device equals the backed-up one") or diag($@);
        }
    };
    my $err = $@;
    $provider->restore_vm_cleanup($volname);
    die $err if $err;
    ok(!-e $_, "$_ is gone after restore_vm_cleanup") for @paths;
    return ($config, $firewall);
}

# The first backup of VM 100, as both provider tests start: data on both disks, a full backup over nbd that starts
# the bitmaps. Returns it and the disks' content as raw files.
sub full_nbd_backup {
    my ($provider) = @_;
    guest_writes('drive-scsi0', 'write -P 0x11 0 2M', 'write -P 0x22 5M 1M');
    guest_writes('drive-virtio1', 'write -P 0x33 1M 1M');
    my $full = backup_vm_like_pve(provider => $provider, vmid => 100, start => 1764180000);
    is($full->{error}, '', 'nbd backup succeeded');
    is($full->{mechanism}, 'nbd', 'mechanism nbd');
    is_deeply($full->{modes}, { map { $_ => 'new' } @DEVICES }, 'the first backup starts bitmaps');
    return ($full, capture('v1'));
}

# The second: three dirty 64 KiB extents, an incremental through file handles whose next-dirty-region closures are
# pulled to their end (their extents, then nothing). Returns it and the disks' content.
sub incremental_file_handle_backup {
    my ($provider) = @_;
    guest_writes('drive-scsi0', 'write -P 0x77 6M 64k', 'write -P 0x78 7M 64k');
    guest_writes('drive-virtio1', 'write -P 0x79 3M 64k');
    my $v2 = capture('v2');
    my %closure_calls;
    my $incremental = backup_vm_like_pve(provider => $provider, vmid => 100, start => 1764180100, closure_calls => \%closure_calls);
    is($incremental->{error}, '', 'file-handle backup succeeded');
    is($incremental->{mechanism}, 'file-handle', 'mechanism file-handle');
    is_deeply($incremental->{modes}, { map { $_ => 'use' } @DEVICES }, 'the second backup is incremental');
    is_deeply(\%closure_calls, { 'drive-scsi0' => 3, 'drive-virtio1' => 2 }, "each device's next-dirty-region was pulled to its end");
    return ($incremental, $v2);
}

1;
