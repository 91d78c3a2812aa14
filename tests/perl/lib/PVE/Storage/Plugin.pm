package PVE::Storage::Plugin;

# STAND-IN for Proxmox VE's storage plugin base class (pve-storage, src/PVE/Storage/Plugin.pm), which Debian does
# not package. Only what a custom plugin needs to load and be asked for its description, written from the
# documented custom plugin interface: api, type, plugindata, properties, options, and new_backup_provider, which
# dies unless the plugin declares the 'backup-provider' feature and implements it.

use strict;
use warnings;

sub api { die "implement me in subclass\n" }
sub type { die "implement me in subclass\n" }
sub plugindata { return {} }
sub properties { return {} }
sub options { return {} }

sub new_backup_provider {
    my ($class, $scfg, $storeid, $log_function) = @_;
    die "implement me if enabling the feature 'backup-provider' in plugindata()->{features}\n";
}

1;
