#!/usr/bin/perl
# The Engine plugin against an S3 repository (an Engine repository in a radosgw bucket, made by `engine init`):
# the storage options (engine-repository s3://…, engine-s3-endpoint), the credentials file under PVE's priv
# directory (here a temporary one) with its mode checked, the credentials reaching the engine process as its
# environment and never on its command line, and a full nbd backup, an incremental through file handles, listing,
# restores byte for byte and removal, driven as provider.t drives the local repository.
#
#   AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_ENDPOINT_URL=http://127.0.0.1:7480 \
#   prove -I src/perl -I tests/perl/lib tests/perl/provider-s3.t :: --engine "/usr/bin/dotnet .../engine.dll" --repo s3://BUCKET/pve
#
# The AWS variables are the test's input only: it writes them into the credentials file and removes them from its
# own environment, so the engine can only have them from the plugin.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;
use Getopt::Long;
use Test::More;

use lib "$FindBin::Bin/lib", "$FindBin::Bin/../../src/perl";

use PVE::Storage::Custom::EngineBackupPlugin;
use PveReplay;

my ($engine, $repo) = ($ENV{ENGINE_COMMAND});
GetOptions('engine=s' => \$engine, 'repo=s' => \$repo) or BAIL_OUT('usage: provider-s3.t :: --engine "ENGINE COMMAND" --repo s3://BUCKET/PREFIX');
BAIL_OUT('the engine command is missing: pass :: --engine "CMD"') if !$engine;
BAIL_OUT('the repository is missing: pass :: --repo s3://BUCKET/PREFIX (made by engine init)') if !$repo || $repo !~ m!^s3://!;
my %aws = map { $_ => delete $ENV{$_} } qw(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL AWS_REGION);
BAIL_OUT("$_ is not set: the test needs the gateway's credentials and endpoint") for grep { !$aws{$_} } qw(AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL);

my $MiB = 1024 * 1024;
my $CONFIG = "boot: order=scsi0\nscsi0: local:100/vm-100-disk-0.qcow2,size=8M\n";
my $FIREWALL = "[OPTIONS]\nenable: 1\n";
my $dir = tempdir('/tmp/ept-s3-XXXXXXXX', CLEANUP => 1);
PveReplay::setup(dir => $dir, bitmap => 'engine-provider', config => $CONFIG, firewall => $FIREWALL);
my @logs;
my $log_function = sub { push @logs, [@_] };

my $plugin = 'PVE::Storage::Custom::EngineBackupPlugin';
my $store = 'engine-s3';
ok($plugin->properties()->{'engine-s3-endpoint'} && $plugin->options()->{'engine-s3-endpoint'}, 'engine-s3-endpoint option');
my $repository_pattern = $plugin->properties()->{'engine-repository'}->{pattern};
like($repo, qr/^(?:$repository_pattern)$/, 'engine-repository takes an s3:// URL');
like('/srv/engine', qr/^(?:$repository_pattern)$/, 'and a directory');
unlike('srv/engine', qr/^(?:$repository_pattern)$/, 'not a relative path');
my %scfg = (type => 'engine-backup', 'engine-repository' => $repo, 'engine-s3-endpoint' => $aws{AWS_ENDPOINT_URL}, 'engine-command' => $engine, content => { backup => 1 });

# --- the credentials file ---------------------------------------------------------------------------------------

$PVE::Storage::Custom::EngineBackupPlugin::CREDENTIALS_DIR = "$dir/priv/engine";
my $credentials = "$dir/priv/engine/$store.s3-credentials";
is($plugin->credentials_file($store), $credentials, 'the credentials file: CREDENTIALS_DIR/STOREID.s3-credentials');
sub write_credentials {
    my ($text, $mode) = @_;
    mkdir("$dir/priv"); mkdir("$dir/priv/engine");
    open(my $fh, '>', $credentials) or die "$credentials: $!";
    print $fh $text;
    close($fh);
    chmod($mode, $credentials) or die;
}
sub error_of { my ($code) = @_; return eval { $code->(); 1 } ? '' : $@ }

like(error_of(sub { $plugin->new_backup_provider({ %scfg }, $store, $log_function) }), qr/cannot read the S3 credentials file \Q$credentials\E/,
    'a missing credentials file fails by name');
my $good = "# engine-s3\nAWS_ACCESS_KEY_ID=$aws{AWS_ACCESS_KEY_ID}\nAWS_SECRET_ACCESS_KEY=$aws{AWS_SECRET_ACCESS_KEY}\n\nAWS_REGION=us-east-1\n";
write_credentials($good, 0644);
like(error_of(sub { $plugin->new_backup_provider({ %scfg }, $store, $log_function) }), qr/\Q$credentials\E has mode 0644; .*chmod 0600/,
    'a credentials file others can read is refused');
like(error_of(sub { $plugin->activate_storage($store, { %scfg }) }), qr/mode 0644/, 'by activate_storage too');
is(($plugin->status($store, { %scfg }))[3], 0, 'and the storage is not active');
write_credentials("AWS_ACCESS_KEY_ID=x\nAWS_SESSION_TOKEN=y\n", 0600);
like(error_of(sub { $plugin->activate_storage($store, { %scfg }) }), qr/\Q$credentials\E line 2: unknown variable 'AWS_SESSION_TOKEN'/, 'an unknown variable fails naming the line');
write_credentials("AWS_ACCESS_KEY_ID=x\n", 0600);
like(error_of(sub { $plugin->activate_storage($store, { %scfg }) }), qr/\Q$credentials\E does not set AWS_SECRET_ACCESS_KEY/, 'a missing secret fails by name');
write_credentials($good, 0600);
ok($plugin->activate_storage($store, { %scfg }), 'activate_storage with a 0600 credentials file');
is(($plugin->status($store, { %scfg }))[3], 1, 'the storage is active');
is_deeply($plugin->engine_environment($store, { %scfg }), {
    AWS_ACCESS_KEY_ID => $aws{AWS_ACCESS_KEY_ID}, AWS_SECRET_ACCESS_KEY => $aws{AWS_SECRET_ACCESS_KEY}, AWS_REGION => 'us-east-1',
    AWS_ENDPOINT_URL => $aws{AWS_ENDPOINT_URL},
}, "the engine's environment: the file's variables and the endpoint");
is_deeply($plugin->engine_environment($store, { %scfg, 'engine-repository' => "$dir/local" }), {}, 'none for a directory repository');

# --- backups into the bucket, credentials only in the environment -----------------------------------------------

is_deeply($plugin->list_volumes($store, { %scfg }, undef, ['backup']), [], 'list_volumes: an initialised bucket holds no backups yet');
my $nbd = $plugin->new_backup_provider({ %scfg }, $store, $log_function);
create_disks();
$nbd->job_init(1764179000);
my $child = $nbd->{child}->{pid};
my $cmdline = do { local (@ARGV, $/) = ("/proc/$child/cmdline"); <> } // '';
my $environ = do { local (@ARGV, $/) = ("/proc/$child/environ"); <> } // '';
unlike($cmdline, qr/\Q$aws{AWS_SECRET_ACCESS_KEY}\E|\Q$aws{AWS_ACCESS_KEY_ID}\E/, 'the engine command line holds no credentials');
like($cmdline, qr/provider\0--repo\0\Q$repo\E\0/, 'it names the s3:// repository');
like($environ, qr/(?:^|\0)AWS_SECRET_ACCESS_KEY=\Q$aws{AWS_SECRET_ACCESS_KEY}\E\0/, 'the secret is in its environment');
like($environ, qr/(?:^|\0)AWS_ENDPOINT_URL=\Q$aws{AWS_ENDPOINT_URL}\E\0/, 'and the endpoint');
$nbd->job_cleanup();

my ($full, $v1) = full_nbd_backup($nbd);
is($full->{cleanup}->{stats}->{'archive-size'}, 12 * $MiB, 'backup_cleanup reports the archive size');
my $file_handle = $plugin->new_backup_provider({ %scfg, 'engine-mechanism' => 'file-handle' }, $store, $log_function);
my ($incremental, $v2) = incremental_file_handle_backup($file_handle);

my @volids = map { "$store:backup/$_" } $full->{archive}, $incremental->{archive};
is_deeply([sort map { $_->{volid} } $plugin->list_volumes($store, { %scfg }, undef, ['backup'])->@*], [sort @volids],
    'list_volumes: both backups, from the bucket');
is(scalar($plugin->volume_size_info({ %scfg }, $store, "backup/$full->{archive}", 30)), 12 * $MiB, 'volume_size_info');

restore_vm_like_pve($nbd, "backup/$full->{archive}", $v1);
my ($config) = restore_vm_like_pve($file_handle, "backup/$incremental->{archive}", $v2, $store);
is($config, $CONFIG, 'the guest config comes back from the bucket');

is($plugin->free_image($store, { %scfg }, "backup/$full->{archive}", undef, 'engine'), undef, 'free_image removes a backup');
is_deeply([map { $_->{volid} } $plugin->list_volumes($store, { %scfg }, 100, ['backup'])->@*], [$volids[1]], 'and only the incremental is left');
restore_vm_like_pve($nbd, "backup/$incremental->{archive}", $v2);

# A wrong secret: the engine's own message (naming the bucket) reaches the caller.
write_credentials("AWS_ACCESS_KEY_ID=$aws{AWS_ACCESS_KEY_ID}\nAWS_SECRET_ACCESS_KEY=not-the-secret\n", 0600);
my ($bucket) = $repo =~ m!^s3://([^/]+)!;
like(error_of(sub { $plugin->list_volumes($store, { %scfg }, undef, ['backup']) }), qr/failed \(exit code \d+\): .*\Q$bucket\E/,
    "a wrong secret fails with the engine's message naming the bucket");

undef $nbd;
undef $file_handle;
done_testing();
