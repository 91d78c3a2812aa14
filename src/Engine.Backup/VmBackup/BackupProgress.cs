namespace Engine.Backup.VmBackup;

/// <summary>Where a VM backup stands; reported after every chunk.</summary>
/// <param name="Device">The device being read.</param>
/// <param name="BytesToRead">Bytes the backup plans to read from all sources known so far.</param>
/// <param name="BytesRead">Bytes read from the sources.</param>
/// <param name="BytesReused">Bytes taken from the previous snapshot or already in the store.</param>
/// <param name="BytesStored">Bytes written to the store after compression.</param>
/// <param name="Elapsed">Time since the backup started.</param>
public readonly record struct BackupProgress(string Device, long BytesToRead, long BytesRead, long BytesReused, long BytesStored, TimeSpan Elapsed)
{
    /// <summary>Source read rate in bytes per second.</summary>
    public double ReadRate => Elapsed.TotalSeconds > 0 ? BytesRead / Elapsed.TotalSeconds : 0;
}
