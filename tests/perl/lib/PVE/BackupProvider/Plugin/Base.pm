package PVE::BackupProvider::Plugin::Base;

# STAND-IN for Proxmox VE's abstract base class of backup providers (pve-storage,
# src/PVE/BackupProvider/Plugin/Base.pm), which Debian does not package. Written from its documented interface only:
# every callback exists and dies until a subclass implements it. Nothing here is exercised beyond that; the tests
# load the real Engine plugin on top of it.

use strict;
use warnings;

for my $method (qw(
    new provider_name job_init job_cleanup backup_init backup_cleanup backup_get_mechanism
    backup_handle_log_file backup_vm_query_incremental backup_vm backup_container_prepare backup_container
    restore_get_mechanism archive_get_guest_config archive_get_firewall_config restore_vm_init
    restore_vm_cleanup restore_vm_volume_init restore_vm_volume_cleanup restore_container_init
    restore_container_cleanup
)) {
    no strict 'refs';
    *{__PACKAGE__ . "::$method"} = sub { die "implement me in subclass\n" };
}

1;
