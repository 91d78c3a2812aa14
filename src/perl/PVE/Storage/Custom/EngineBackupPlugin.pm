package PVE::Storage::Custom::EngineBackupPlugin;

# A Proxmox VE storage of type 'engine-backup': an Engine repository that PVE backs up to and restores from through
# the backup provider API (PVE::BackupProvider::Plugin::Engine). Install it as
# /usr/share/perl5/PVE/Storage/Custom/EngineBackupPlugin.pm beside the provider, then for example:
#
#   pvesm add engine-backup engine --engine-repository /srv/engine --content backup
#
# or, on an S3 bucket (made once with `engine init --repo s3://BUCKET/PREFIX`):
#
#   pvesm add engine-backup engine-s3 --engine-repository s3://backups/pve --engine-s3-endpoint http://rgw:7480 --content backup
#
# The S3 credentials are in /etc/pve/priv/engine/STOREID.s3-credentials (mode 0600, root's; /etc/pve/priv is
# readable only by root on every node), KEY=VALUE lines:
#
#   AWS_ACCESS_KEY_ID=...
#   AWS_SECRET_ACCESS_KEY=...
#   AWS_REGION=us-east-1          (optional)
#
# They reach the engine process as its environment, never on its command line (which every user sees in ps).
#
# Volume names are the snapshots' archive names under 'backup/': backup/vm/100/2026-11-26T06:30:00Z.

use strict;
use warnings;

use File::Temp ();
use JSON::PP;
use List::Util ();
use POSIX ();
use Time::Local qw(timegm);

use PVE::BackupProvider::Plugin::Engine;

use base qw(PVE::Storage::Plugin);

# Where the S3 credentials files are: STOREID.s3-credentials. A package variable so tests can point it elsewhere.
our $CREDENTIALS_DIR = '/etc/pve/priv/engine';

# The variables a credentials file may set; the first two it must.
my @CREDENTIAL_VARIABLES = qw(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION);

# The storage plugin API version that introduced backup providers.
sub api {
    return 11;
}

sub type {
    return 'engine-backup';
}

sub plugindata {
    return {
        content => [{ backup => 1 }, { backup => 1 }],
        features => { 'backup-provider' => 1 },
        'sensitive-properties' => {},
    };
}

sub properties {
    return {
        'engine-repository' => {
            description => "The Engine repository: a directory (created when missing) or s3://BUCKET/PREFIX (made by 'engine init'; credentials in /etc/pve/priv/engine/STOREID.s3-credentials).",
            type => 'string',
            pattern => '(?:/\S+|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:/\S*)?)',
        },
        'engine-s3-endpoint' => {
            description => "The S3 endpoint URL of an s3:// repository (default: AWS's own).",
            type => 'string',
            pattern => 'https?://\S+',
            optional => 1,
        },
        'engine-command' => {
            description => "The engine command, split at spaces (default: 'engine' on PATH).",
            type => 'string',
            optional => 1,
        },
        'engine-mechanism' => {
            description => "How VM disks reach Engine: an NBD socket (nbd) or a file handle (file-handle).",
            type => 'string',
            enum => ['nbd', 'file-handle'],
            default => 'nbd',
            optional => 1,
        },
        'engine-container-restore' => {
            description => "How containers are restored: from a tar file Engine writes (tar) or a directory tree (directory).",
            type => 'string',
            enum => ['tar', 'directory'],
            default => 'tar',
            optional => 1,
        },
    };
}

sub options {
    return {
        'engine-repository' => { fixed => 1 },
        'engine-command' => { optional => 1 },
        'engine-s3-endpoint' => { optional => 1 },
        'engine-mechanism' => { optional => 1 },
        'engine-container-restore' => { optional => 1 },
        nodes => { optional => 1 },
        disable => { optional => 1 },
        content => { optional => 1 },
    };
}

sub new_backup_provider {
    my ($class, $scfg, $storeid, $log_function) = @_;
    return PVE::BackupProvider::Plugin::Engine->new($class, $scfg, $storeid, $log_function);
}

# --- the engine CLI ------------------------------------------------------------------------------------------

sub _is_s3 {
    my ($scfg) = @_;
    return ($scfg->{'engine-repository'} // '') =~ m!^s3://!;
}

# The credentials file of storage $storeid.
sub credentials_file {
    my ($class, $storeid) = @_;
    return "$CREDENTIALS_DIR/$storeid.s3-credentials";
}

# The environment an engine process of storage $storeid runs with: for an s3:// repository the credentials from the
# storage's credentials file and AWS_ENDPOINT_URL from 'engine-s3-endpoint'; nothing for a directory. Dies naming the
# file when it is missing, readable by others than its owner, or not KEY=VALUE lines of the known variables.
sub engine_environment {
    my ($class, $storeid, $scfg) = @_;

    return {} if !_is_s3($scfg);
    my $file = $class->credentials_file($storeid);
    open(my $fh, '<', $file) or die "storage '$storeid': cannot read the S3 credentials file $file: $!\n";
    my $mode = (stat($fh))[2] & 07777;
    die sprintf("storage '%s': the S3 credentials file %s has mode %04o; it must be readable by its owner only (chmod 0600)\n", $storeid, $file, $mode)
        if $mode & 077;
    my %known = map { $_ => 1 } @CREDENTIAL_VARIABLES;
    my %environment;
    while (my $line = <$fh>) {
        chomp($line);
        next if $line =~ m/^\s*(?:#|$)/;
        my ($name, $value) = $line =~ m/^\s*([A-Z_]+)=(.*?)\s*$/;
        die "storage '$storeid': $file line $.: expected KEY=VALUE\n" if !defined($name);
        die "storage '$storeid': $file line $.: unknown variable '$name' (known: @CREDENTIAL_VARIABLES)\n" if !$known{$name};
        $environment{$name} = $value;
    }
    close($fh);
    for my $name (qw(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY)) {
        die "storage '$storeid': $file does not set $name\n" if ($environment{$name} // '') eq '';
    }
    $environment{AWS_ENDPOINT_URL} = $scfg->{'engine-s3-endpoint'} if $scfg->{'engine-s3-endpoint'};
    return \%environment;
}

# The guest types of the archive names, as PVE names them in a backup volume's 'subtype'.
my %SUBTYPE = (vm => 'qemu', ct => 'lxc');
my %ARCHIVE_TYPE = reverse %SUBTYPE;

# The keep rules `engine prune` knows, in PVE's order.
my @PRUNE_RULES = qw(keep-last keep-daily keep-weekly keep-monthly keep-yearly);

# Runs `engine ARGS --repo REPOSITORY` and returns what it printed. A failure dies with the engine's own message
# (its standard error), which names the repository or snapshot; with $timeout (seconds) a slow engine is ended.
sub _run_engine {
    my ($class, $storeid, $scfg, $timeout, @args) = @_;

    my $repository = $scfg->{'engine-repository'}
        or die "storage '$storeid': 'engine-repository' is not set\n";
    my @command = (split(' ', $scfg->{'engine-command'} // 'engine'), @args, '--repo', $repository);
    my $environment = $class->engine_environment($storeid, $scfg);
    # A file, not a pipe: the engine can then write any amount to stderr while stdout is being read.
    my $errors = File::Temp->new(TEMPLATE => 'engine-stderr-XXXXXXXX', TMPDIR => 1);

    my $pid = open(my $output, '-|') // die "storage '$storeid': cannot fork for '@command': $!\n";
    if (!$pid) {
        open(STDERR, '>&', $errors) or POSIX::_exit(126);
        @ENV{keys %$environment} = values %$environment;
        { no warnings 'exec'; exec { $command[0] } @command; }
        print STDERR "cannot run $command[0]: $!\n";
        POSIX::_exit(127);
    }

    # PVE may run this under its own alarm (run_with_timeout): that one is re-armed afterwards.
    my ($started, $outer) = (time(), 0);
    my $text = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        $outer = alarm($timeout) if $timeout;
        local $/;
        my $all = <$output> // '';
        alarm(0) if $timeout;
        $all;
    };
    my $timed_out = $@;
    if ($timeout) {
        alarm(0);
        alarm(List::Util::max(1, $outer - (time() - $started))) if $outer;
    }
    kill('TERM', $pid) if $timed_out;
    close($output);
    my $status = $?;
    die "storage '$storeid': '@command' timed out after $timeout s\n" if $timed_out;

    if ($status) {
        seek($errors, 0, 0);
        my $message = do { local $/; <$errors> } // '';
        $message =~ s/\s+$//;
        my $how = $status & 127 ? 'signal ' . ($status & 127) : 'exit code ' . ($status >> 8);
        die "storage '$storeid': '@command' failed ($how)" . ($message eq '' ? '' : ": $message") . "\n";
    }
    return $text;
}

# The first backup creates the repository in its (empty) directory: until then there is nothing to list or prune.
# An S3 repository exists from 'engine init' on.
sub _no_repository_yet {
    my ($scfg) = @_;
    return 0 if _is_s3($scfg);
    opendir(my $dh, $scfg->{'engine-repository'} // '') or return 0;
    my @entries = grep { $_ ne '.' && $_ ne '..' } readdir($dh);
    closedir($dh);
    return !@entries;
}

# The repository's snapshots (manifests from `engine snapshots --json`), oldest first; --type and --vmid filter.
sub _snapshots {
    my ($class, $storeid, $scfg, $timeout, %filter) = @_;

    return [] if _no_repository_yet($scfg);
    my $output = $class->_run_engine($storeid, $scfg, $timeout, 'snapshots', '--json',
        map { defined($filter{$_}) ? ("--$_", $filter{$_}) : () } qw(type vmid));
    my $snapshots = eval { JSON::PP->new->utf8->decode($output) };
    die "storage '$storeid': 'engine snapshots --json' printed no list: " . ($@ || $output) . "\n"
        if ref($snapshots) ne 'ARRAY';
    return $snapshots;
}

# A manifest as PVE lists a backup volume. The size is the guest's (its disks, or a container's files); 'used' is
# what this backup added to the repository.
sub _volume_info {
    my ($storeid, $snapshot) = @_;

    my ($type, $vmid, $time) = split('/', $snapshot->{id});
    my ($year, $month, $day, $hour, $minute, $second) = $time =~ m/^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/
        or die "storage '$storeid': unexpected snapshot id '$snapshot->{id}'\n";
    my $size = 0;
    $size += $_->{size} for ($snapshot->{devices} // [])->@*;
    $size += $snapshot->{archive}->{bytes} if $snapshot->{archive};

    return {
        volid => "$storeid:backup/$snapshot->{id}",
        vmid => int($vmid),
        content => 'backup',
        # PVE's own formats would mislead its GUI ('pbs-vm' means a PBS snapshot); 'subtype' tells it the guest type.
        format => 'engine',
        subtype => $SUBTYPE{$type},
        size => $size,
        used => $snapshot->{stats}->{bytes_stored} // 0,
        ctime => timegm($second, $minute, $hour, $day, $month - 1, $year),
    };
}

# --- volumes -------------------------------------------------------------------------------------------------

sub parse_volname {
    my ($class, $volname) = @_;
    if ($volname =~ m!^backup/((?:vm|ct)/(\d+)/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$!) {
        return ('backup', $1, $2, undef, undef, undef, 'engine');
    }
    die "unable to parse Engine volume name '$volname'\n";
}

# Not a file: a restore reads the archive through the backup provider.
sub path {
    my ($class, $scfg, $volname, $storeid, $snapname) = @_;
    my ($vtype, $name, $vmid) = $class->parse_volname($volname);
    return ("engine://$storeid/$name", $vmid, $vtype);
}

sub activate_storage {
    my ($class, $storeid, $scfg, $cache) = @_;
    my $repository = $scfg->{'engine-repository'};
    # S3: the credentials file must be usable; the bucket is checked by the first engine command.
    return !!$class->engine_environment($storeid, $scfg) if _is_s3($scfg);
    die "storage '$storeid': Engine repository '$repository' does not exist\n" if !-d $repository;
    return 1;
}

sub deactivate_storage {
    return 1;
}

sub status {
    my ($class, $storeid, $scfg, $cache) = @_;
    # A bucket has no size to report; it is active when its credentials are usable.
    return (0, 0, 0, eval { $class->engine_environment($storeid, $scfg); 1 } ? 1 : 0) if _is_s3($scfg);
    # The repository's file system: what `df` says of its directory.
    my $repository = $scfg->{'engine-repository'};
    open(my $df, '-|', 'df', '-P', '-B1', '--', $repository) or return (0, 0, 0, 0);
    my (undef, $line) = <$df>;
    close($df);
    return (0, 0, 0, 0) if !$line;
    my (undef, $total, $used, $free) = split(' ', $line);
    return ($total, $free, $used, 1);
}

sub activate_volume {
    return 1;
}

sub deactivate_volume {
    return 1;
}

# PVE's "Remove" of a backup (API DELETE of the volume, pvesm free) arrives through PVE::Storage::vdisk_free.
# The snapshot goes at once; its chunks, which later snapshots may share, stay until `engine gc` collects the ones no
# snapshot uses. Nothing is left for a cleanup worker, so none is returned.
sub free_image {
    my ($class, $storeid, $scfg, $volname, $isBase, $format) = @_;
    my (undef, $name) = $class->parse_volname($volname);
    $class->_run_engine($storeid, $scfg, undef, 'forget', $name);
    return undef;
}

# vzdump's retention (the storage's or job's prune-backups) and the GUI's "Prune group", through `engine prune`:
# the same rules per guest, periods counted in UTC as Proxmox Backup Server does. Returns PVE's marks.
sub prune_backups {
    my ($class, $scfg, $storeid, $keep, $vmid, $type, $dryrun, $logfunc) = @_;
    $logfunc //= sub { print "$_[1]\n" };

    my %rules = %{ $keep // {} };
    my $keep_all = delete($rules{'keep-all'}) || !grep { $_ } values %rules;
    die "storage '$storeid': Engine cannot prune by 'keep-hourly'; use keep-last or keep-daily\n"
        if !$keep_all && $rules{'keep-hourly'};
    my $archive_type;
    if (defined($type)) {
        $archive_type = $ARCHIVE_TYPE{$type} or die "storage '$storeid': no backups of guest type '$type'\n";
    }
    return [] if _no_repository_yet($scfg);

    my @args = ('prune', '--json', (defined($archive_type) ? ('--type', $archive_type) : ()), (defined($vmid) ? ('--vmid', $vmid) : ()));
    if ($keep_all) {
        # No rule: the engine keeps everything; a dry run only lists them.
        push @args, '--dry-run';
    } else {
        push @args, map { $rules{$_} ? ("--$_", $rules{$_}) : () } @PRUNE_RULES;
        push @args, '--dry-run' if $dryrun;
    }
    my $output = $class->_run_engine($storeid, $scfg, undef, @args);
    my $result = eval { JSON::PP->new->utf8->decode($output) };
    die "storage '$storeid': 'engine prune --json' printed no decisions: " . ($@ || $output) . "\n"
        if ref($result) ne 'HASH' || ref($result->{decisions}) ne 'ARRAY';

    my @marks;
    for my $decision ($result->{decisions}->@*) {
        my $info = _volume_info($storeid, { id => $decision->{snapshot} });
        push @marks, {
            volid => $info->{volid},
            type => $info->{subtype},
            vmid => $info->{vmid},
            ctime => $info->{ctime},
            mark => $decision->{keep} ? 'keep' : 'remove',
        };
        $logfunc->('info', "removed backup $info->{volid}") if !$decision->{keep} && !$dryrun;
    }
    return \@marks;
}

# Guest images are not stored here, only backups.
sub list_images {
    return [];
}

sub list_volumes {
    my ($class, $storeid, $scfg, $vmid, $content_types) = @_;
    return [] if !grep { $_ eq 'backup' } ($content_types // [])->@*;
    my $snapshots = $class->_snapshots($storeid, $scfg, undef, vmid => $vmid);
    return [map { _volume_info($storeid, $_) } $snapshots->@*];
}

# Nothing for a backup that does not exist, as PVE expects of a missing volume.
sub volume_size_info {
    my ($class, $scfg, $storeid, $volname, $timeout) = @_;
    my (undef, $name) = $class->parse_volname($volname);
    my ($type, $vmid) = split('/', $name);
    my ($snapshot) = grep { $_->{id} eq $name } $class->_snapshots($storeid, $scfg, $timeout, type => $type, vmid => $vmid)->@*;
    return if !$snapshot;
    my $info = _volume_info($storeid, $snapshot);
    return wantarray ? ($info->{size}, $info->{format}, $info->{used}, undef, $info->{ctime}) : $info->{size};
}

# Notes and protection are not kept yet: nothing to show, and a change is refused by name.
sub get_volume_attribute {
    return undef;
}

sub update_volume_attribute {
    my ($class, $scfg, $storeid, $volname, $attribute, $value) = @_;
    die "storage '$storeid': Engine backups do not keep the attribute '$attribute'\n";
}

sub volume_resize {
    die "Engine backups cannot be resized\n";
}

sub volume_snapshot {
    die "Engine backups have no snapshots\n";
}

sub volume_snapshot_rollback {
    die "Engine backups have no snapshots\n";
}

sub volume_snapshot_delete {
    die "Engine backups have no snapshots\n";
}

sub volume_has_feature {
    return 0;
}

1;
