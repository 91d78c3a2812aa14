// Engine.Backup: the deduplicating repository, the VM backup engine and restore.
