namespace Engine.Qcow2.Format;

/// <summary>Recognises a qcow2 image by its first bytes, as <c>engine serve</c> and <c>copy</c> detect formats.</summary>
public static class Qcow2Magic
{
    /// <summary>"QFI\xfb", big-endian, at offset 0 of every qcow2 image.</summary>
    public const uint Value = 0x514649fb;

    /// <summary>Whether <paramref name="start"/> (the image's first bytes) begins with the qcow2 magic.</summary>
    public static bool Matches(ReadOnlySpan<byte> start) =>
        start.Length >= 4 && System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(start) == Value;
}
