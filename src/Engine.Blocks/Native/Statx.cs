using System.Runtime.InteropServices;

namespace Engine.Blocks.Native;

/// <summary>
/// The fields of Linux <c>struct statx</c> the block layer needs. statx is used instead of fstat because its layout
/// is the same on every architecture, so one declaration is right everywhere.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 0x100)]
internal struct Statx
{
    [FieldOffset(0x00)] public uint Mask;
    [FieldOffset(0x04)] public uint BlockSize;
    [FieldOffset(0x1C)] public ushort Mode;
    [FieldOffset(0x28)] public ulong Size;
    [FieldOffset(0x30)] public ulong Blocks;
    [FieldOffset(0x80)] public uint RdevMajor;
    [FieldOffset(0x84)] public uint RdevMinor;
    [FieldOffset(0x98)] public uint DioMemAlign;
    [FieldOffset(0x9C)] public uint DioOffsetAlign;

    private const int FileTypeMask = 0xF000;
    private const int RegularFile = 0x8000;
    private const int BlockDevice = 0x6000;

    public readonly bool IsRegularFile => (Mode & FileTypeMask) == RegularFile;

    public readonly bool IsBlockDevice => (Mode & FileTypeMask) == BlockDevice;
}
