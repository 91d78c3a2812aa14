using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;

namespace Engine.Backup.Containers.Tar;

/// <summary>
/// Turns a POSIX ACL from the kernel's xattr form (<c>system.posix_acl_access</c> / <c>_default</c>) into the text
/// GNU tar stores in <c>SCHILY.acl.access</c> / <c>SCHILY.acl.default</c> and hands to <c>acl_from_text</c> on
/// extraction: comma-separated short entries with numeric ids, as GNU tar 1.35 writes with <c>--numeric-owner</c>
/// (<c>user::rw-,user:1000:r-x,group::r--,mask::r-x,other::r--</c>). Numeric ids keep the container's ownership
/// whatever names the host has; <c>acl_from_text</c> reads an all-digit qualifier as an id.
/// </summary>
internal static class PosixAclText
{
    /// <summary>The xattr naming a file's access ACL.</summary>
    public const string AccessXattr = "system.posix_acl_access";

    /// <summary>The xattr naming a directory's default ACL.</summary>
    public const string DefaultXattr = "system.posix_acl_default";

    // linux/posix_acl_xattr.h: a 4-byte version, then 8-byte entries { u16 tag; u16 perm; u32 id; }, little endian.
    private const int Version = 2;
    private const int HeaderLength = 4;
    private const int EntryLength = 8;

    private const ushort UserObj = 0x01;
    private const ushort User = 0x02;
    private const ushort GroupObj = 0x04;
    private const ushort Group = 0x08;
    private const ushort Mask = 0x10;
    private const ushort Other = 0x20;

    /// <summary>
    /// Writes the text form of <paramref name="xattrValue"/> to <paramref name="text"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">The value is not a version 2 ACL of whole entries with known tags.</exception>
    public static void Format(ReadOnlySpan<byte> xattrValue, IBufferWriter<byte> text, string path)
    {
        if (xattrValue.Length < HeaderLength || (xattrValue.Length - HeaderLength) % EntryLength != 0
            || BinaryPrimitives.ReadUInt32LittleEndian(xattrValue) != Version)
        {
            throw new InvalidDataException($"{path}: malformed POSIX ACL xattr ({xattrValue.Length} bytes, expected version {Version} and 8-byte entries)");
        }

        for (var offset = HeaderLength; offset < xattrValue.Length; offset += EntryLength)
        {
            var entry = xattrValue.Slice(offset, EntryLength);
            var tag = BinaryPrimitives.ReadUInt16LittleEndian(entry);
            var permissions = BinaryPrimitives.ReadUInt16LittleEndian(entry[2..]);
            var id = BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]);
            ReadOnlySpan<byte> prefix = tag switch
            {
                UserObj => "user::"u8,
                User => "user:"u8,
                GroupObj => "group::"u8,
                Group => "group:"u8,
                Mask => "mask::"u8,
                Other => "other::"u8,
                _ => throw new InvalidDataException($"{path}: POSIX ACL entry with unknown tag 0x{tag:x}"),
            };

            // Room for a comma, the longest prefix, a 10-digit id, a colon and rwx.
            var span = text.GetSpan(32);
            var written = 0;
            if (offset > HeaderLength)
            {
                span[written++] = (byte)',';
            }

            prefix.CopyTo(span[written..]);
            written += prefix.Length;
            if (tag is User or Group)
            {
                id.TryFormat(span[written..], out var idLength, default, CultureInfo.InvariantCulture);
                written += idLength;
                span[written++] = (byte)':';
            }

            span[written++] = (permissions & 4) != 0 ? (byte)'r' : (byte)'-';
            span[written++] = (permissions & 2) != 0 ? (byte)'w' : (byte)'-';
            span[written++] = (permissions & 1) != 0 ? (byte)'x' : (byte)'-';
            text.Advance(written);
        }
    }
}
