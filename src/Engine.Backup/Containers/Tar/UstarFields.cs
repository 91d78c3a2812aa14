namespace Engine.Backup.Containers.Tar;

/// <summary>The values of one ustar header; names are the archive's bytes, cut to 100 bytes when written.</summary>
internal readonly ref struct UstarFields
{
    public ReadOnlySpan<byte> Name { get; init; }

    public int Mode { get; init; }

    public long Uid { get; init; }

    public long Gid { get; init; }

    /// <summary>Bytes of member data that follow the header (for a sparse file: map plus data).</summary>
    public long Size { get; init; }

    /// <summary>Whole seconds since the epoch.</summary>
    public long ModificationTime { get; init; }

    public byte TypeFlag { get; init; }

    public ReadOnlySpan<byte> LinkName { get; init; }

    public int DeviceMajor { get; init; }

    public int DeviceMinor { get; init; }
}
