namespace ImageFiles;

/// <summary>
/// Where archives live below the provider's root directory:
/// <code>
/// ROOT/TYPE/VMID/TIME/           a finished backup: guest.conf, firewall.conf, then DEVICE.raw per disk or root.tar
/// ROOT/TYPE/VMID/TIME.partial/   a backup being written; backup_cleanup renames it on success, removes it otherwise
/// ROOT/TYPE/VMID/TIME.log        the task log PVE hands over, for failed backups too
/// ROOT/vm/VMID/bitmap            the archive QEMU's dirty bitmaps count changes from
/// </code>
/// TIME keeps its ':' (Linux allows it in names), so an archive's path below ROOT is its name.
/// </summary>
internal sealed class ArchiveStore(string root)
{
    public const string GuestConfig = "guest.conf";
    public const string FirewallConfig = "firewall.conf";
    public const string ContainerTar = "root.tar";
    public const string ImageExtension = ".raw";

    public string Root { get; } = Path.GetFullPath(root);

    /// <summary>A finished archive's directory.</summary>
    public string Committed(ArchiveName name) => Path.Combine(Root, name.ToString());

    /// <summary>The directory a backup is written to until it is committed.</summary>
    public string Partial(ArchiveName name) => Committed(name) + ".partial";

    /// <summary>Where a device's image is inside an archive directory.</summary>
    public static string Image(string archive, string device) => Path.Combine(archive, device + ImageExtension);

    /// <summary>A finished archive's directory; fails naming the volume when there is none.</summary>
    public string Existing(string volumeName)
    {
        var directory = Committed(ArchiveName.Parse(volumeName));
        return Directory.Exists(directory) ? directory : throw new FileNotFoundException($"{volumeName}: no such archive in {Root}", directory);
    }

    /// <summary>Moves a written backup into place; the rename is what makes it visible.</summary>
    public void Commit(ArchiveName name) => Directory.Move(Partial(name), Committed(name));

    /// <summary>The newest finished archive of a guest, or null.</summary>
    public ArchiveName? Newest(string type, string vmid)
    {
        var guest = Path.Combine(Root, type, vmid);
        if (!Directory.Exists(guest))
        {
            return null;
        }

        ArchiveName? newest = null;
        foreach (var directory in Directory.EnumerateDirectories(guest))
        {
            if (!directory.EndsWith(".partial", StringComparison.Ordinal) && TryParse(directory[(Root.Length + 1)..]) is { } name &&
                (newest is null || name.Time > newest.Time))
            {
                newest = name;
            }
        }

        return newest;
    }

    /// <summary>
    /// Records that QEMU's bitmaps of <paramref name="vmid"/> now count changes from <paramref name="name"/>: QEMU
    /// clears them as soon as <c>backup_vm</c> returns, whether or not the backup is kept afterwards.
    /// </summary>
    public void SetBitmapBase(string vmid, ArchiveName name)
    {
        var file = Path.Combine(Root, "vm", vmid, "bitmap");
        File.WriteAllText(file + ".tmp", name.ToString());
        File.Move(file + ".tmp", file, overwrite: true);
    }

    /// <summary>The archive recorded by <see cref="SetBitmapBase"/>, or null.</summary>
    public ArchiveName? BitmapBase(string vmid)
    {
        var file = Path.Combine(Root, "vm", vmid, "bitmap");
        return File.Exists(file) ? TryParse(File.ReadAllText(file)) : null;
    }

    private static ArchiveName? TryParse(string text)
    {
        try
        {
            return ArchiveName.Parse(text);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
