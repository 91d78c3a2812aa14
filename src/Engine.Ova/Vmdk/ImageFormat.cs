namespace Engine.Ova.Vmdk;

/// <summary>What a disk file is, judged by its first bytes (the OVF's format URI is only advisory).</summary>
internal enum ImageFormat
{
    /// <summary>No known magic: raw.</summary>
    Raw,
    /// <summary>A sparse VMDK extent (KDMV): streamOptimized or monolithicSparse.</summary>
    SparseVmdk,
    /// <summary>A descriptor-only VMDK naming other files (monolithicFlat and friends).</summary>
    VmdkDescriptor,
    /// <summary>qcow2.</summary>
    Qcow2,
}

/// <summary>Detects <see cref="ImageFormat"/> from a file's first sector.</summary>
internal static class ImageFormatDetector
{
    /// <summary>Classifies a file by its first bytes.</summary>
    public static ImageFormat Detect(ReadOnlySpan<byte> firstSector)
    {
        if (SparseExtentHeader.HasMagic(firstSector))
        {
            return ImageFormat.SparseVmdk;
        }

        if (firstSector.Length >= 4 && firstSector[0] == (byte)'Q' && firstSector[1] == (byte)'F' && firstSector[2] == (byte)'I' && firstSector[3] == 0xfb)
        {
            return ImageFormat.Qcow2;
        }

        return VmdkDescriptor.LooksLikeDescriptor(firstSector) ? ImageFormat.VmdkDescriptor : ImageFormat.Raw;
    }
}
