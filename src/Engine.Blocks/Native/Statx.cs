using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

/// <summary>
/// The fields of Linux <c>struct statx</c> Engine reads. statx is used instead of fstat and lstat because its layout
/// is the same on every architecture, so one declaration is right everywhere. Which fields hold values depends on the
/// mask the call asked for.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 0x100)]
internal struct Statx
{
    [FieldOffset(0x00)] public uint Mask;
    [FieldOffset(0x04)] public uint BlockSize;
    [FieldOffset(0x10)] public uint LinkCount;
    [FieldOffset(0x14)] public uint Uid;
    [FieldOffset(0x18)] public uint Gid;
    [FieldOffset(0x1C)] public ushort Mode;
    [FieldOffset(0x20)] public ulong Inode;
    [FieldOffset(0x28)] public ulong Size;
    [FieldOffset(0x30)] public ulong Blocks;
    [FieldOffset(0x60)] public long CtimeSeconds;
    [FieldOffset(0x68)] public uint CtimeNanoseconds;
    [FieldOffset(0x70)] public long MtimeSeconds;
    [FieldOffset(0x78)] public uint MtimeNanoseconds;
    [FieldOffset(0x80)] public uint RdevMajor;
    [FieldOffset(0x84)] public uint RdevMinor;
    [FieldOffset(0x88)] public uint DevMajor;
    [FieldOffset(0x8C)] public uint DevMinor;
    [FieldOffset(0x98)] public uint DioMemAlign;
    [FieldOffset(0x9C)] public uint DioOffsetAlign;

    /// <summary><c>S_IFMT</c>: the file type bits of <see cref="Mode"/>; the S_IF* values follow.</summary>
    public const int TypeMask = 0xF000;
    public const int Socket = 0xC000;
    public const int SymbolicLink = 0xA000;
    public const int RegularFile = 0x8000;
    public const int BlockDevice = 0x6000;
    public const int Directory = 0x4000;
    public const int CharacterDevice = 0x2000;
    public const int Fifo = 0x1000;

    /// <summary>The S_IF* type.</summary>
    public readonly int FileType => Mode & TypeMask;

    public readonly bool IsRegularFile => FileType == RegularFile;

    public readonly bool IsBlockDevice => FileType == BlockDevice;

    public readonly long ModificationTimeNs => (MtimeSeconds * 1_000_000_000L) + MtimeNanoseconds;

    /// <summary>
    /// The inode's last status change (content, owner, mode, link count or xattrs) in nanoseconds since the epoch; no
    /// system call sets it back, so it tells a file changed even when its mtime was restored.
    /// </summary>
    public readonly long ChangeTimeNs => (CtimeSeconds * 1_000_000_000L) + CtimeNanoseconds;

    /// <summary>The file system the file lives on.</summary>
    public readonly ulong Device => ((ulong)DevMajor << 32) | DevMinor;
}
