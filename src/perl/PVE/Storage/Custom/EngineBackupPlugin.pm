package PVE::Storage::Custom::EngineBackupPlugin;

# A Proxmox VE storage of type 'engine-backup': an Engine repository that PVE backs up to and restores from through
# the backup provider API (PVE::BackupProvider::Plugin::Engine). Install it as
# /usr/share/perl5/PVE/Storage/Custom/EngineBackupPlugin.pm beside the provider, then for example:
#
#   pvesm add engine-backup engine --engine-repository /srv/engine --content backup
#
# Volume names are the snapshots' archive names under 'backup/': backup/vm/100/2026-11-26T06:30:00Z.

use strict;
use warnings;

use PVE::BackupProvider::Plugin::Engine;

use base qw(PVE::Storage::Plugin);

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
            description => "Directory of the Engine repository (created when missing).",
            type => 'string',
            format => 'pve-storage-path',
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
    };
}

sub options {
    return {
        'engine-repository' => { fixed => 1 },
        'engine-command' => { optional => 1 },
        'engine-mechanism' => { optional => 1 },
        nodes => { optional => 1 },
        disable => { optional => 1 },
        content => { optional => 1 },
    };
}

sub new_backup_provider {
    my ($class, $scfg, $storeid, $log_function) = @_;
    return PVE::BackupProvider::Plugin::Engine->new($class, $scfg, $storeid, $log_function);
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
    die "storage '$storeid': Engine repository '$repository' does not exist\n" if !-d $repository;
    return 1;
}

sub deactivate_storage {
    return 1;
}

sub status {
    my ($class, $storeid, $scfg, $cache) = @_;
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

sub volume_size_info {
    my ($class, $scfg, $storeid, $volname, $timeout) = @_;
    $class->parse_volname($volname);
    # PVE takes a volume without a size for one that does not exist; the real size is the guest's disks.
    return wantarray ? (1, 'engine', 1, undef, undef) : 1;
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
