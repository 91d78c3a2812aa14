namespace Engine.Qcow2.Reading;

/// <summary>
/// Which other files an image may make the reader open: its backing file and its external data file are names the
/// image's author chose, so an image whose format was only probed (whose author may be a guest that wrote a qcow2
/// header into its raw disk) must not steer the host to <c>/etc/pve/priv/…</c> or <c>/dev/sda</c>.
/// </summary>
public enum Qcow2ExternalFiles
{
    /// <summary>An image that names a backing file or an external data file is refused (<see cref="Qcow2ExternalFileException"/>).</summary>
    None,

    /// <summary>Backing and external data files must be regular files; block devices and other nodes are refused.</summary>
    RegularFiles,

    /// <summary>Backing and external data files may also be block devices (a chain on LVM volumes).</summary>
    RegularFilesAndBlockDevices,
}
