namespace Engine.Ova.Vmdk;

/// <summary>One extent line of a VMDK descriptor: <c>RW 16384 SPARSE "disk.vmdk"</c>.</summary>
/// <param name="Access">RW, RDONLY or NOACCESS.</param>
/// <param name="Sectors">Size in sectors.</param>
/// <param name="Type">SPARSE, FLAT, ZERO, VMFS...</param>
/// <param name="FileName">The extent's file, as written.</param>
/// <param name="Offset">Start offset in the file for FLAT extents, in sectors.</param>
internal sealed record VmdkExtent(string Access, long Sectors, string Type, string? FileName, long Offset);
