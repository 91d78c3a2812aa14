namespace Engine.Qcow2.Format;

/// <summary>The header's <c>compression_type</c>: how every compressed cluster of the image is compressed.</summary>
public enum Qcow2CompressionType : byte
{
    /// <summary>Raw deflate (qemu calls it zlib; no zlib header, window bits -12).</summary>
    Deflate = 0,

    /// <summary>Zstandard frames.</summary>
    Zstd = 1,
}
