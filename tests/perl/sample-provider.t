#!/usr/bin/perl
# samples/ImageFilesProvider, a third-party provider built from Engine's packages, behind Engine's Perl plugin and
# driven the way qemu-server and vzdump drive a provider (tests/perl/lib/PveReplay.pm, as provider.t does): a full
# backup over nbd starts the bitmaps, an incremental through file handles uses them, both restore byte for byte
# through qemu-img, and a container goes through the directory and tar mechanisms.
#
#   prove -I src/perl -I tests/perl/lib tests/perl/sample-provider.t :: --engine "/usr/bin/dotnet .../ImageFilesProvider.dll"

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use Getopt::Long;
use Test::More;

use lib "$FindBin::Bin/lib", "$FindBin::Bin/../../src/perl";

use PVE::Storage::Custom::EngineBackupPlugin;
use PveReplay;

my $engine;
GetOptions('engine=s' => \$engine) or BAIL_OUT('usage: sample-provider.t :: --engine "PROVIDER COMMAND"');
BAIL_OUT('the provider command is missing: pass :: --engine "CMD" to prove') if !$engine;

my $MiB = 1024 * 1024;
my $CONFIG = "boot: order=scsi0\nscsi0: local:100/vm-100-disk-0.qcow2,size=8M\n";
my $dir = tempdir('/tmp/esp-XXXXXXXX', CLEANUP => 1);
PveReplay::setup(dir => $dir, bitmap => 'sample', config => $CONFIG, firewall => "[OPTIONS]\nenable: 1\n");
my @logs;
my $log_function = sub { push @logs, [@_] };

# The storage plugin's engine-command runs any provider that speaks the protocol.
my $plugin = 'PVE::Storage::Custom::EngineBackupPlugin';
my %scfg = (type => 'engine-backup', 'engine-repository' => "$dir/archives", 'engine-command' => $engine, content => { backup => 1 });
my $nbd = $plugin->new_backup_provider({ %scfg }, 'sample-store', $log_function);
is($nbd->provider_name(), 'image-files', 'provider_name: the sample answers through the plugin');

# --- VMs: nbd full (bitmap new), file-handle incremental (bitmap use) ------------------------------------------

create_disks();
my ($full, $v1) = full_nbd_backup($nbd);
is($full->{archive}, 'vm/100/2025-11-26T18:00:00Z', "the sample's archive name");
is($full->{cleanup}->{stats}->{'archive-size'}, 12 * $MiB, 'backup_cleanup reports the images');

my $file_handle = $plugin->new_backup_provider({ %scfg, 'engine-mechanism' => 'file-handle' }, 'sample-store', $log_function);
@logs = ();
my ($incremental, $v2) = incremental_file_handle_backup($file_handle);
ok((grep { $_->[0] eq 'info' && $_->[1] eq "drive-scsi0: incremental from $full->{archive}, 131072 dirty bytes" } @logs),
    'only the dirty extents were read through the file handle') or diag(explain(\@logs));

my ($config) = restore_vm_like_pve($nbd, "backup/$full->{archive}", $v1);
is($config, $CONFIG, 'guest config comes back');
restore_vm_like_pve($file_handle, "backup/$incremental->{archive}", $v2, 'sample-store');

# --- containers: backup_container runs in a fresh process, restores hand PVE a tar -----------------------------

container_tree("$dir/ct");
my $ct_archive = $nbd->backup_init(200, 'lxc', 1764180400)->{'archive-name'};
is($nbd->backup_get_mechanism(200, 'lxc'), 'directory', 'containers use the directory mechanism');
my $ct_info = { directory => "$dir/ct", sources => ['.'], 'backup-user-id' => 0, 'firewall-config' => '', 'bandwidth-limit' => 0 };
$nbd->backup_container_prepare(200, $ct_info);
my $error = eval { $nbd->backup_container(200, "arch: amd64\n", ['/tmp/?*'], $ct_info); 1 } ? '' : $@;
is($error, '', 'backup_container succeeds in its fresh process');
cmp_ok($nbd->backup_cleanup(200, 'lxc', 1, {})->{stats}->{'archive-size'}, '>', 0, 'backup_cleanup reports the tar');
is_deeply([$nbd->restore_get_mechanism("backup/$ct_archive", 'sample-store')], ['tar', 'lxc'], 'restore mechanism tar');
my $ct_source = $nbd->restore_container_init("backup/$ct_archive", 'sample-store', {});
my @members = split(/\n/, `tar -tf '$ct_source->{'tar-path'}'`);
ok((grep { $_ eq './sbin/' } @members) && (grep { $_ eq './etc/f12' } @members) && !(grep { m!^\./tmp/junk! } @members),
    'the tar has ./sbin/ and the files, not the excluded one') or diag(explain(\@members));
$nbd->restore_container_cleanup("backup/$ct_archive", 'sample-store', {});
ok(!-e $ct_source->{'tar-path'}, 'restore_container_cleanup removes the path it handed out');

$error = eval { $nbd->restore_vm_init('vm/100/not-a-time'); 1 } ? '' : $@;
like($error, qr!vm/100/not-a-time!, "a failing call dies with the sample's message");

my $pid = $nbd->{child}->{pid};
undef $nbd;
undef $file_handle;
ok(!kill(0, $pid), 'DESTROY ends and reaps the process');

done_testing();
