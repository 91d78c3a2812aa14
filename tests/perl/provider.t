#!/usr/bin/perl
# The Engine backup provider plugin, driven the way qemu-server and vzdump drive a provider, against the real
# `engine provider` process: qcow2 disks with persistent dirty bitmaps exported by qemu-nbd under their device
# names, the file-handle mechanism through nbdfuse files opened O_RDWR|O_DIRECT as PVE opens them, restores through
# qemu-img. Only PVE's two abstract base classes are stand-ins (tests/perl/lib); PVE's and QEMU's side of the calls
# is tests/perl/lib/PveReplay.pm, shared with sample-provider.t.
#
#   prove -I src/perl -I tests/perl/lib tests/perl/provider.t :: --engine "/usr/bin/dotnet .../engine.dll"

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use Getopt::Long;
use Test::More;

use lib "$FindBin::Bin/lib", "$FindBin::Bin/../../src/perl";

use PVE::Storage::Custom::EngineBackupPlugin;
use PveReplay;

my $engine = $ENV{ENGINE_COMMAND};
GetOptions('engine=s' => \$engine) or BAIL_OUT('usage: provider.t :: --engine "ENGINE COMMAND"');
BAIL_OUT('the engine command is missing: pass :: --engine "CMD" to prove, or set ENGINE_COMMAND') if !$engine;

my $MiB = 1024 * 1024;
my $BITMAP = 'engine-provider';
my $CONFIG = "boot: order=scsi0\ndescription: caf\xc3\xa9 (UTF-8 bytes, as PVE reads them)\nscsi0: local:100/vm-100-disk-0.qcow2,size=8M\n";
my $FIREWALL = "[OPTIONS]\nenable: 1\n";

my $dir = tempdir('/tmp/ept-XXXXXXXX', CLEANUP => 1);
PveReplay::setup(dir => $dir, bitmap => $BITMAP, config => $CONFIG, firewall => $FIREWALL);
my @logs;
my $log_function = sub { push @logs, [@_] };

# --- the storage plugin ----------------------------------------------------------------------------------------

my $plugin = 'PVE::Storage::Custom::EngineBackupPlugin';
is($plugin->api(), 11, 'storage plugin API with backup providers');
is($plugin->type(), 'engine-backup', 'storage type');
ok($plugin->plugindata()->{features}->{'backup-provider'}, "declares the 'backup-provider' feature");
ok($plugin->plugindata()->{content}->[0]->{backup}, 'content backup');
ok($plugin->properties()->{'engine-repository'} && $plugin->options()->{'engine-repository'}->{fixed}, 'engine-repository option');
is(($plugin->parse_volname('backup/vm/100/2026-11-26T06:30:00Z'))[1], 'vm/100/2026-11-26T06:30:00Z', 'volume names are archive names under backup/');

my %scfg = (type => 'engine-backup', 'engine-repository' => "$dir/repo", 'engine-command' => $engine, content => { backup => 1 });
my $nbd = $plugin->new_backup_provider({ %scfg }, 'engine-store', $log_function);
isa_ok($nbd, 'PVE::BackupProvider::Plugin::Base');
is($nbd->provider_name(), 'Engine', 'provider_name');
my $long_lived = $nbd->{child}->{pid};
ok($long_lived && kill(0, $long_lived), 'one long-lived engine provider process');

# --- backups: nbd full, file-handle incremental ----------------------------------------------------------------

create_disks();
my ($full, $v1) = full_nbd_backup($nbd);
is($full->{cleanup}->{stats}->{'archive-size'}, 12 * $MiB, 'backup_cleanup reports the archive size');
like($full->{archive}, qr!^vm/100/2025-11-26T18:00:00Z$!, 'archive name');
ok(!$nbd->{child}, 'job_cleanup ended the long-lived process');
ok(!kill(0, $long_lived), 'and reaped it');

my $file_handle = $plugin->new_backup_provider({ %scfg, 'engine-mechanism' => 'file-handle' }, 'engine-store', $log_function);
@logs = ();
my ($incremental, $v2) = incremental_file_handle_backup($file_handle);
for my $device (@DEVICES) {
    ok((grep { $_->[0] eq 'info' && $_->[1] =~ m/^$device: incremental from vm\/100\// } @logs), "the engine logged ${device}'s incremental backup at level info");
}
ok((grep { $_->[0] eq 'info' && $_->[1] =~ m/: read 196608 bytes/ } @logs), 'only the three dirty 64 KiB extents were read through the file handles')
    or diag(explain(\@logs));

# --- restore, with and without pve-container's storeid ---------------------------------------------------------

my ($config, $firewall) = restore_vm_like_pve($nbd, "backup/$full->{archive}", $v1);
is($config, $CONFIG, 'guest config comes back byte for byte');
is($firewall, $FIREWALL, 'firewall config');
restore_vm_like_pve($file_handle, "backup/$incremental->{archive}", $v2, 'engine-store');
is($file_handle->archive_get_guest_config($incremental->{archive}, 'engine-store'), $CONFIG, 'archive_get_guest_config with a storeid');

# --- failures: the engine's message, the closure's message, logs with their levels ----------------------------

my $error = eval { $nbd->restore_vm_init('vm/100/not-a-time'); 1 } ? '' : $@;
like($error, qr!vm/100/not-a-time!, 'a failing call dies with the engine message');
$error = eval { $nbd->restore_container_init("backup/$full->{archive}", 'engine-store', {}); 1 } ? '' : $@;
like($error, qr/\Q$full->{archive}\E holds no container archive/, 'restore_container_init of a VM archive dies naming it');

guest_writes('drive-scsi0', 'write -P 0x79 1M 64k', 'write -P 0x7a 3M 64k');
my $failed = backup_vm_like_pve(provider => $file_handle, vmid => 100, start => 1764180200, fail_after => 1);
like($failed->{error}, qr/nbdinfo child went away/, "a dying next-dirty-region closure fails backup_vm with the closure's message");

@logs = ();
my $later = backup_vm_like_pve(provider => $nbd, vmid => 100, start => 1764180300, fail_after_backup_vm => 1);
is($later->{error}, '', 'backup_vm succeeded');
is($later->{cleanup}->{stats}, undef, 'backup_cleanup without success keeps nothing');
ok((grep { $_->[0] eq 'warn' && $_->[1] =~ m/removed snapshot/ } @logs), 'the warning reached the log function at level warn')
    or diag(explain(\@logs));

# --- containers: backup_container runs in a fresh process ------------------------------------------------------

container_tree("$dir/ct");
my $ct_archive = $nbd->backup_init(200, 'lxc', 1764180400)->{'archive-name'};
like($ct_archive, qr!^ct/200/!, 'a container archive name');
is($nbd->backup_get_mechanism(200, 'lxc'), 'directory', 'containers use the directory mechanism');
my $ct_info = { directory => "$dir/ct", sources => ['.'], 'backup-user-id' => 0, 'firewall-config' => '', 'bandwidth-limit' => 0 };
$nbd->backup_container_prepare(200, $ct_info);
my $before = $nbd->{child}->{pid};
$error = eval { $nbd->backup_container(200, "arch: amd64\n", ['/tmp/?*'], $ct_info); 1 } ? '' : $@;
is($error, '', 'backup_container succeeds in its fresh process');
is($nbd->{child}->{pid}, $before, 'the long-lived process was not used for it');
my $ct_cleanup = $nbd->backup_cleanup(200, 'lxc', 1, {});
cmp_ok($ct_cleanup->{stats}->{'archive-size'}, '>', 0, 'backup_cleanup reports the archive size');
my $ct_source = $nbd->restore_container_init("backup/$ct_archive", 'engine-store', {});
ok(-f $ct_source->{'tar-path'}, 'restore_container_init with a storeid gives a tar file');
my @members = split(/\n/, `tar -tf '$ct_source->{'tar-path'}'`);
ok((grep { $_ eq './sbin/' } @members) && !(grep { m!^\./tmp/junk! } @members) && @members >= 10, 'the tar has ./sbin/, not the excluded file, and 10 or more members')
    or diag(explain(\@members));
$nbd->restore_container_cleanup("backup/$ct_archive", 'engine-store', {});
ok(!-e $ct_source->{'tar-path'}, 'restore_container_cleanup removes it');

my $ct_dir = $plugin->new_backup_provider({ %scfg, 'engine-container-restore' => 'directory' }, 'engine-store', $log_function);
is_deeply([$ct_dir->restore_get_mechanism("backup/$ct_archive", 'engine-store')], ['directory', 'lxc'], 'engine-container-restore directory: the mechanism');
my $ct_tree = $ct_dir->restore_container_init("backup/$ct_archive", 'engine-store', {});
ok(-f "$ct_tree->{'archive-directory'}/sbin/init" && !-e "$ct_tree->{'archive-directory'}/tmp/junk", 'archive-directory holds the tree without the excluded file');
$ct_dir->restore_container_cleanup("backup/$ct_archive", 'engine-store', {});
ok(!-e $ct_tree->{'archive-directory'}, 'restore_container_cleanup removes the tree');
undef $ct_dir;

$nbd->backup_init(200, 'lxc', 1764180450);
$error = eval { $nbd->backup_container(200, "arch: amd64\n", [], { %$ct_info, directory => "$dir/no-such-ct" }); 1 } ? '' : $@;
like($error, qr/no-such-ct/, "a failing backup_container dies with the engine's message");
ok(eval { $nbd->backup_cleanup(200, undef, 0, { error => $error }); 1 }, "and the provider still serves, even backup_cleanup with vmtype undef (PVE's abort phase)")
    or diag($@);

# --- the storage plugin shows, sizes and removes the backups, through `engine snapshots` and `engine forget` -----

my $store = 'engine-store';
my $full_volid = "$store:backup/$full->{archive}";
my $incremental_volid = "$store:backup/$incremental->{archive}";
my $ct_volid = "$store:backup/$ct_archive";
my $volumes = $plugin->list_volumes($store, { %scfg }, undef, ['images', 'backup']);
is_deeply([sort map { $_->{volid} } @$volumes], [sort $ct_volid, $full_volid, $incremental_volid],
    'list_volumes: the successful backups, no failed one') or diag(explain($volumes));
my %by_volid = map { $_->{volid} => $_ } @$volumes;
is_deeply($by_volid{$full_volid}, {
    volid => $full_volid, vmid => 100, content => 'backup', format => 'engine', subtype => 'qemu',
    size => 12 * $MiB, used => $by_volid{$full_volid}->{used}, ctime => 1764180000,
}, "list_volumes: a VM backup's fields, its size the disks' and ctime its start") or diag(explain($by_volid{$full_volid}));
cmp_ok($by_volid{$full_volid}->{used}, '>', 0, 'used: what the backup stored');
is($by_volid{$incremental_volid}->{size}, 12 * $MiB, 'an incremental backup has the full size too');
is($by_volid{$ct_volid}->{subtype}, 'lxc', 'a container backup has subtype lxc');
is($by_volid{$ct_volid}->{vmid}, 200, 'and its vmid');
is($by_volid{$ct_volid}->{ctime}, 1764180400, 'and its start as ctime');
my $ct_bytes = length("init\n");
$ct_bytes += length("file $_\n") for 1 .. 12;
is($by_volid{$ct_volid}->{size}, $ct_bytes, "its size: the container's file bytes (the excluded file not counted)");
is_deeply([map { $_->{volid} } $plugin->list_volumes($store, { %scfg }, 200, ['backup'])->@*], [$ct_volid], 'list_volumes respects the vmid');
is_deeply($plugin->list_volumes($store, { %scfg }, 999, ['backup']), [], 'no backups of another guest');
is_deeply($plugin->list_volumes($store, { %scfg }, undef, ['images', 'rootdir']), [], 'nothing without the backup content type');
is_deeply($plugin->list_images($store, { %scfg }, 100), [], 'list_images: no guest images here');

my ($full_volname) = $full_volid =~ m/^\Q$store\E:(.*)$/;
my ($incremental_volname) = $incremental_volid =~ m/^\Q$store\E:(.*)$/;
is_deeply([$plugin->volume_size_info({ %scfg }, $store, $full_volname, 5)],
    [12 * $MiB, 'engine', $by_volid{$full_volid}->{used}, undef, 1764180000], 'volume_size_info: size, format, used, no parent, ctime');
is(scalar($plugin->volume_size_info({ %scfg }, $store, $full_volname)), 12 * $MiB, 'volume_size_info in scalar context: the size');
is_deeply([$plugin->volume_size_info({ %scfg }, $store, 'backup/vm/100/2020-01-01T00:00:00Z')], [], 'nothing for a backup that does not exist');

# vzdump's retention and the GUI's "Prune group": dry runs mark, a real run removes the parent of an incremental,
# which still restores byte for byte from the chunks they share.
sub marks { return { map { $_->{volid} => $_->{mark} } $_[0]->@* } }
my @prune_logs;
my $prune_log = sub { push @prune_logs, [@_] };
my $dry = $plugin->prune_backups({ %scfg }, $store, { 'keep-last' => 1 }, 100, 'qemu', 1, $prune_log);
is_deeply(marks($dry), { $incremental_volid => 'keep', $full_volid => 'remove' }, 'prune_backups dry run: keep-last 1 marks the older VM backup')
    or diag(explain($dry));
is_deeply([grep { $_->{volid} eq $full_volid } @$dry], [{ volid => $full_volid, type => 'qemu', vmid => 100, ctime => 1764180000, mark => 'remove' }],
    "a mark has PVE's fields");
is(scalar($plugin->list_volumes($store, { %scfg }, undef, ['backup'])->@*), 3, 'a dry run removes nothing');
is_deeply(marks($plugin->prune_backups({ %scfg }, $store, { 'keep-all' => 1 }, undef, 'lxc', 0, $prune_log)), { $ct_volid => 'keep' },
    'keep-all keeps everything; the type filters');
$error = eval { $plugin->prune_backups({ %scfg }, $store, { 'keep-hourly' => 2 }, 100, 'qemu', 1, $prune_log); 1 } ? '' : $@;
like($error, qr/keep-hourly/, 'a rule the engine lacks is refused by name');
is_deeply(\@prune_logs, [], 'nothing logged as removed so far');
is_deeply(marks($plugin->prune_backups({ %scfg }, $store, { 'keep-last' => 1 }, 100, 'qemu', 0, $prune_log)),
    { $incremental_volid => 'keep', $full_volid => 'remove' }, 'prune_backups removes');
is_deeply(\@prune_logs, [['info', "removed backup $full_volid"]], 'and logs what it removed');
is_deeply([map { $_->{volid} } $plugin->list_volumes($store, { %scfg }, 100, ['backup'])->@*], [$incremental_volid], 'only the incremental is left');
restore_vm_like_pve($plugin->new_backup_provider({ %scfg }, $store, $log_function), $incremental_volname, $v2);

my @chunks_before = glob("$dir/repo/chunks/*/*");
is($plugin->free_image($store, { %scfg }, $incremental_volname, undef, 'engine'), undef, 'free_image: no cleanup worker');
is_deeply($plugin->list_volumes($store, { %scfg }, 100, ['backup']), [], 'list_volumes no longer shows it');
is_deeply([glob("$dir/repo/chunks/*/*")], \@chunks_before, 'its chunks stay for engine gc');
$error = eval { $plugin->free_image($store, { %scfg }, $incremental_volname, undef, 'engine'); 1 } ? '' : $@;
like($error, qr/^storage '\Q$store\E': '.*forget \Q$incremental->{archive}\E.*' failed \(exit code 66\): engine forget: snapshot \Q$incremental->{archive}\E not found/,
    "removing it again dies with the engine's message");
is_deeply([map { $_->{volid} } $plugin->list_volumes($store, { %scfg }, undef, ['backup'])->@*], [$ct_volid], 'the container backup is left');

mkdir("$dir/not-a-repo") or die;
is_deeply($plugin->list_volumes($store, { %scfg, 'engine-repository' => "$dir/not-a-repo" }, undef, ['backup']), [], 'an empty directory: no backups yet');
{ open(my $fh, '>', "$dir/not-a-repo/stray") or die; close($fh); }
$error = eval { $plugin->list_volumes($store, { %scfg, 'engine-repository' => "$dir/not-a-repo" }, undef, ['backup']); 1 } ? '' : $@;
like($error, qr/failed \(exit code 66\): engine snapshots: \Q$dir\E\/not-a-repo: no such repository/, 'a directory that is no repository: the engine says so');
{ open(my $fh, '>', "$dir/slow-engine") or die; print $fh "#!/bin/sh\nexec sleep 30\n"; close($fh); chmod(0755, "$dir/slow-engine") or die; }
my $slow_start = time();
$error = eval { $plugin->volume_size_info({ %scfg, 'engine-command' => "$dir/slow-engine" }, $store, $full_volname, 1); 1 } ? '' : $@;
like($error, qr/'\Q$dir\E\/slow-engine snapshots .*' timed out after 1 s/, "volume_size_info's timeout ends a slow engine");
cmp_ok(time() - $slow_start, '<', 10, 'without waiting for it');
$error = eval { $plugin->list_volumes($store, { %scfg, 'engine-command' => "$dir/no-such-engine" }, undef, ['backup']); 1 } ? '' : $@;
like($error, qr/failed \(exit code 127\): cannot run \Q$dir\E\/no-such-engine/, 'an engine that cannot start fails by name');

my $broken = $plugin->new_backup_provider({ %scfg, 'engine-command' => "$dir/no-such-engine" }, 'engine-store', $log_function);
$error = eval { $broken->job_init(1764180500); 1 } ? '' : $@;
like($error, qr/job_init: '\Q$dir\E\/no-such-engine provider .*' ended \(exit code 127\) without answering/, 'an engine that cannot start fails the call by name');

my $pid = $nbd->{child}->{pid};
undef $nbd;
undef $file_handle;
ok(!kill(0, $pid), 'DESTROY ends and reaps the process');

done_testing();
