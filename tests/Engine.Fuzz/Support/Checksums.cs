using System.Buffers.Binary;
using System.IO.Hashing;

namespace Engine.Fuzz.Support;

/// <summary>
/// Repository files end in an XxHash3 of everything before it. A mutated file almost never matches its trailer,
/// so the fuzzer would only ever test the checksum check; targets recompute the trailer to reach the parser behind it.
/// </summary>
internal static class Checksums
{
    /// <summary>A copy of <paramref name="input"/> whose last 8 bytes are the XxHash3 of the rest (unchanged if shorter than 8).</summary>
    public static byte[] WithXxHash3Trailer(ReadOnlySpan<byte> input)
    {
        var bytes = input.ToArray();
        if (bytes.Length >= sizeof(ulong))
        {
            var body = bytes.AsSpan(0, bytes.Length - sizeof(ulong));
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(body.Length), XxHash3.HashToUInt64(body));
        }

        return bytes;
    }
}
