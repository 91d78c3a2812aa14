namespace Engine.Qcow2.Format;

/// <summary>File offsets for messages when a parser may not know where its bytes came from (-1).</summary>
internal static class FieldOffset
{
    /// <summary>The file offset of a field <paramref name="field"/> bytes into a structure at <paramref name="baseOffset"/>, or -1 when the base is unknown.</summary>
    public static long At(long baseOffset, int field) => baseOffset < 0 ? -1 : baseOffset + field;
}
